import BerthGate
import Foundation

/// The `retrain:` block of an alert rule whose actions include `retrain`:
///
/// ```yaml
/// retrain:
///   command: [python3, retrain.py]   # argv (or one string run by /bin/sh -c)
///   canary_percent: 10               # the new version's share of traffic, as a canary
///   gates: ["accuracy>=0.8"]         # on the held-out newest labelled rows
///   timeout: 10m
///   rows: 5000                       # labelled rows exported at most
/// ```
///
/// The command reads the training CSV named by `BERTH_RETRAIN_DATA` (features under the
/// reference sample's names, or the logged input columns, and the label column named by
/// `BERTH_RETRAIN_LABEL`) and writes an ONNX model to `BERTH_RETRAIN_OUTPUT`.
public struct RetrainSettings: Sendable, Equatable {
    /// The program and its arguments.
    public var command: [String]
    /// The canary share (percent of requests) the new version gets once its gates pass.
    public var canaryPercent: Double = 10
    /// Gates the new version's metrics on the held-out rows must meet before it takes traffic.
    public var gates: [Gate] = []
    /// The command is killed after this many seconds.
    public var timeout: TimeInterval = 600
    /// Labelled rows exported at most (the newest).
    public var rows = 5_000
    /// Share of the exported rows (the newest) held out to evaluate the new version.
    public var holdout = 0.2

    /// Settings with the given command and defaults for the rest.
    public init(command: [String]) {
        self.command = command
    }
}
