import Foundation

/// One alert rule of `berth serve --alert-rules FILE`: a condition on one model's production
/// version, how long it must hold, and what to do when it fires.
public struct AlertRule: Sendable, Equatable {
    /// Unique within the file; the actor of a rollback it makes.
    public var name: String
    /// The model it watches (its production version, or the newest ready one).
    public var model: String
    /// `metric op threshold`.
    public var condition: RuleCondition
    /// Fewer samples than this (labelled rows, or requests) leave the rule unevaluated.
    public var minSamples: Int
    /// How long the condition must hold before the rule fires (0: at once).
    public var holdFor: TimeInterval
    /// Live metrics: labelled rows; request metrics: seconds of traffic.
    public var window: Int
    /// What firing does, in order.
    public var actions: [AlertAction]
    /// Where `webhook` posts.
    public var webhookURL: String?
    /// The file line the rule starts on, for messages.
    public var line: Int
}

/// What a firing rule does.
public enum AlertAction: String, Sendable, Equatable, CaseIterable {
    /// Moves the production alias back one step, as `berth registry rollback` does.
    case rollback
    /// Writes the alert to the server log (every firing rule does; listed for clarity).
    case log
    /// POSTs the alert as JSON to the rule's `webhook` URL, with retries.
    case webhook
    /// Sets the canary share of the model's traffic to 0.
    case stopCanary = "stop_canary"
}

/// `live_accuracy < 0.8`: a metric, a comparison and a threshold.
public struct RuleCondition: Sendable, Equatable, CustomStringConvertible {
    /// What a condition can watch.
    public enum Metric: String, Sendable, CaseIterable {
        case liveAccuracy = "live_accuracy", liveF1 = "live_f1", liveROCAUC = "live_roc_auc"
        case liveRMSE = "live_rmse", liveMAE = "live_mae"
        case errorRate = "error_rate", p99LatencyMs = "p99_latency_ms", p50LatencyMs = "p50_latency_ms"
        case requestRate = "request_rate"

        /// Computed from feedback (windows in labelled rows) rather than from requests (seconds).
        public var isLive: Bool { rawValue.hasPrefix("live_") }
        /// The ``RealizedPerformance`` metric a live condition reads.
        public var performanceMetric: String {
            switch self {
            case .liveF1: return "f1_macro"
            default: return String(rawValue.dropFirst(5))
            }
        }
    }

    /// A comparison.
    public enum Comparison: String, Sendable, CaseIterable {
        case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="

        func holds(_ v: Double, _ t: Double) -> Bool {
            switch self {
            case .less: return v < t
            case .lessOrEqual: return v <= t
            case .greater: return v > t
            case .greaterOrEqual: return v >= t
            }
        }
    }

    public var metric: Metric
    public var comparison: Comparison
    public var threshold: Double

    /// True when `value` meets the condition.
    public func holds(_ value: Double) -> Bool { comparison.holds(value, threshold) }

    public var description: String { "\(metric.rawValue) \(comparison.rawValue) \(threshold)" }

    /// Metrics the issue names that need data this server does not keep yet (a reference profile).
    static let needsReference = ["estimated_accuracy", "estimated_f1", "estimated_roc_auc", "drift_share", "feature_drift"]

    /// Parses `metric op number`.
    public init(parsing text: String) throws {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard tokens.count == 3 else {
            throw MonitorError.invalidArgument("'\(text)' is not 'METRIC OP NUMBER' (e.g. 'live_accuracy < 0.8')")
        }
        guard let metric = Metric(rawValue: tokens[0]) else {
            let base = tokens[0].split(separator: "(").first.map(String.init) ?? tokens[0]
            if Self.needsReference.contains(base) {
                throw MonitorError.invalidArgument("'\(tokens[0])' needs a reference profile stored with the version, which this server does not keep yet; known metrics: "
                    + Metric.allCases.map(\.rawValue).joined(separator: ", "))
            }
            throw MonitorError.invalidArgument("unknown metric '\(tokens[0])'; known: " + Metric.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let comparison = Comparison(rawValue: tokens[1]) else {
            throw MonitorError.invalidArgument("unknown comparison '\(tokens[1])'; use <, <=, > or >=")
        }
        guard let threshold = Double(tokens[2]), threshold.isFinite else {
            throw MonitorError.invalidArgument("'\(tokens[2])' is not a number")
        }
        self.metric = metric
        self.comparison = comparison
        self.threshold = threshold
    }
}
