/// The outcome of one gate.
public struct GateResult: Sendable, Codable, Equatable {
    /// The gate, as `accuracy >= 0.9`.
    public var gate: String
    /// The metric's name.
    public var metric: String
    /// The metric's value; nil when undefined.
    public var value: Double?
    /// True when the value met the threshold.
    public var passed: Bool

    /// A result from its parts (``Gate/result(for:)`` makes one from a gate and a value).
    public init(gate: String, metric: String, value: Double?, passed: Bool) {
        self.gate = gate
        self.metric = metric
        self.value = value
        self.passed = passed
    }
}
