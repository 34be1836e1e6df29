import BerthGate
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
    /// What `retrain` runs and how its new version is routed.
    public var retrain: RetrainSettings? = nil
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
    /// Runs the rule's retrain command on the logged labelled rows and sends its new version to a
    /// canary through the promotion gates (never straight to production).
    case retrain
}

/// `live_accuracy < 0.8`: a metric, a comparison and a threshold.
public struct RuleCondition: Sendable, Equatable, CustomStringConvertible {
    /// What a condition can watch.
    public enum Metric: String, Sendable, CaseIterable {
        case liveAccuracy = "live_accuracy", liveF1 = "live_f1", liveROCAUC = "live_roc_auc"
        case liveRMSE = "live_rmse", liveMAE = "live_mae"
        case estimatedAccuracy = "estimated_accuracy", estimatedF1 = "estimated_f1", estimatedROCAUC = "estimated_roc_auc"
        case driftShare = "drift_share", featureDrift = "feature_drift"
        case errorRate = "error_rate", p99LatencyMs = "p99_latency_ms", p50LatencyMs = "p50_latency_ms"
        case requestRate = "request_rate"

        /// Computed from feedback (windows in labelled rows).
        public var isLive: Bool { rawValue.hasPrefix("live_") }
        /// Computed from the logged traffic against the version's reference sample (windows in rows).
        public var needsReference: Bool { rawValue.hasPrefix("estimated_") || self == .driftShare || self == .featureDrift }
        /// Needs the prediction log; its window counts rows rather than seconds.
        public var needsLog: Bool { isLive || needsReference }
        /// The metric a live or estimated condition reads (`accuracy`, `f1_macro`, `roc_auc`, `rmse`, `mae`).
        public var performanceMetric: String {
            switch self {
            case .liveF1, .estimatedF1: return "f1_macro"
            case .liveAccuracy, .estimatedAccuracy: return "accuracy"
            case .liveROCAUC, .estimatedROCAUC: return "roc_auc"
            case .liveRMSE: return "rmse"
            case .liveMAE: return "mae"
            default: return rawValue
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
    /// The feature of `feature_drift(NAME)`.
    public var feature: String?
    public var comparison: Comparison
    public var threshold: Double

    /// True when `value` meets the condition.
    public func holds(_ value: Double) -> Bool { comparison.holds(value, threshold) }

    public var description: String {
        "\(metric.rawValue)\(feature.map { "(\($0))" } ?? "") \(comparison.rawValue) \(threshold)"
    }

    /// Parses `metric op number`.
    public init(parsing text: String) throws {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard tokens.count == 3 else {
            throw MonitorError.invalidArgument("'\(text)' is not 'METRIC OP NUMBER' (e.g. 'live_accuracy < 0.8')")
        }
        var name = tokens[0], feature: String?
        if let open = name.firstIndex(of: "("), name.hasSuffix(")") {
            feature = String(name[name.index(after: open)..<name.index(before: name.endIndex)])
            name = String(name[..<open])
        }
        guard let metric = Metric(rawValue: name) else {
            throw MonitorError.invalidArgument("unknown metric '\(tokens[0])'; known: " + Metric.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if metric == .featureDrift {
            guard let feature, !feature.isEmpty else {
                throw MonitorError.invalidArgument("feature_drift needs a feature: feature_drift(NAME) > 0 (1 when NAME drifted, else 0)")
            }
        } else if feature != nil {
            throw MonitorError.invalidArgument("'\(name)' takes no argument")
        }
        self.feature = feature
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
