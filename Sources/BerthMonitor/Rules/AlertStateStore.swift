import Foundation

/// One firing or resolution of a rule: the alert history.
public struct AlertEvent: Sendable, Equatable, Codable {
    public var rule: String
    public var model: String
    /// `fired` or `resolved`.
    public var transition: String
    public var at: Date
    /// The metric's value then; nil without enough data.
    public var value: Double?
    public var samples: Int
    public var version: String?
    /// What the actions did (a firing), as ``AlertStatus/lastActions``.
    public var actions: [String]
    /// The replica that evaluated the rule (``AlertStateStore`` shared by replicas), else empty.
    public var replica: String

    /// An event from its parts.
    public init(rule: String, model: String, transition: String, at: Date, value: Double?, samples: Int, version: String?,
                actions: [String], replica: String) {
        self.rule = rule
        self.model = model
        self.transition = transition
        self.at = at
        self.value = value
        self.samples = samples
        self.version = version
        self.actions = actions
        self.replica = replica
    }
}

/// Where the alert rules' states and history are kept: in memory for one server, or in the
/// replicas' shared database, where the leader writes them and every replica reads them, so a new
/// leader continues where the old one stopped (a firing rule does not fire again).
public protocol AlertStateStore: Sendable {
    /// True when replicas share the store (only the leader evaluates; the others read).
    var isShared: Bool { get }
    /// Every rule's last written state, by rule name.
    func load() throws -> [String: AlertStatus]
    /// Writes `rule`'s state.
    func save(rule: String, status: AlertStatus, replica: String) throws
    /// Appends `event` to the history.
    func record(_ event: AlertEvent) throws
    /// The newest `limit` events, newest first.
    func history(limit: Int) throws -> [AlertEvent]
}

/// The store of one server: its trackers are the state, so only the history is kept (the newest
/// ``maxEvents``).
public final class MemoryAlertStateStore: AlertStateStore, @unchecked Sendable {
    // @unchecked: `events` and `states` are guarded by `lock`.
    private let lock = NSLock()
    private var states: [String: AlertStatus] = [:]
    private var events: [AlertEvent] = []
    /// Events kept at most.
    public static let maxEvents = 1000

    /// An empty store.
    public init() {}

    public var isShared: Bool { false }

    public func load() throws -> [String: AlertStatus] { lock.withLock { states } }

    public func save(rule: String, status: AlertStatus, replica: String) throws { lock.withLock { states[rule] = status } }

    public func record(_ event: AlertEvent) throws {
        lock.withLock {
            events.append(event)
            if events.count > Self.maxEvents { events.removeFirst(events.count - Self.maxEvents) }
        }
    }

    public func history(limit: Int) throws -> [AlertEvent] { lock.withLock { Array(events.suffix(max(0, limit)).reversed()) } }
}
