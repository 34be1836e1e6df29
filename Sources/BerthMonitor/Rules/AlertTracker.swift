import Foundation

/// The state of one rule, as `GET /api/v1/alerts` shows it.
public struct AlertStatus: Sendable, Equatable, Codable {
    /// `ok`, `pending` (the condition holds, not yet for long enough), `firing`, or
    /// `insufficient_data` (fewer samples than `min_samples`).
    public var state: String
    /// When the current state began.
    public var since: Date
    /// The metric's last value; nil without enough data.
    public var value: Double?
    /// Samples behind `value`.
    public var samples: Int
    /// The version the value was computed for.
    public var version: String?
    /// Times the rule fired.
    public var fired: Int
    /// When it last fired.
    public var lastFired: Date?
    /// What its actions did the last time it fired.
    public var lastActions: [String]

    enum CodingKeys: String, CodingKey {
        case state, since, value, samples, version, fired
        case lastFired = "last_fired", lastActions = "last_actions"
    }
}

/// The firing logic of one rule, free of I/O so it can be tested with a fake clock: the
/// condition must hold for `holdFor` before the rule fires; a firing rule fires again only
/// after it resolved (the condition no longer holds, or there is too little data to say).
public struct AlertTracker: Sendable {
    public let rule: AlertRule
    public private(set) var status: AlertStatus

    /// A tracker in the `insufficient_data` state.
    public init(rule: AlertRule, now: Date = Date()) {
        self.rule = rule
        status = AlertStatus(state: "insufficient_data", since: now, value: nil, samples: 0, version: nil, fired: 0,
                             lastFired: nil, lastActions: [])
    }

    /// What an observation changed.
    public enum Transition: Sendable, Equatable { case fired, resolved }

    /// Takes the metric's current `value` over `samples` for `version`; returns a transition
    /// when the rule fires or resolves.
    public mutating func observe(value: Double?, samples: Int, version: String?, now: Date = Date()) -> Transition? {
        status.value = value
        status.samples = samples
        status.version = version
        let wasFiring = status.state == "firing"
        func move(_ state: String) {
            if status.state != state { status.state = state; status.since = now }
        }
        guard let value, samples >= rule.minSamples else {
            move("insufficient_data")
            return wasFiring ? .resolved : nil
        }
        guard rule.condition.holds(value) else {
            move("ok")
            return wasFiring ? .resolved : nil
        }
        if wasFiring { return nil }
        if status.state != "pending" { move("pending") }
        guard now.timeIntervalSince(status.since) >= rule.holdFor else { return nil }
        move("firing")
        status.fired += 1
        status.lastFired = now
        return .fired
    }

    /// Continues from `status` (written by the replica that led before): a firing rule stays
    /// firing, so it is not fired a second time for the same episode.
    public mutating func restore(_ status: AlertStatus) { self.status = status }

    /// Records what the actions of the last firing did.
    public mutating func recordActions(_ outcomes: [String]) { status.lastActions = outcomes }
}
