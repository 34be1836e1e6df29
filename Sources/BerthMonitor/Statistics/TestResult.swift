/// The outcome of one statistical test or distance: its statistic and, for hypothesis tests, the
/// p-value (nil for distances).
public struct TestResult: Sendable, Equatable {
    /// The test statistic, or the distance.
    public var statistic: Double
    /// The p-value of a hypothesis test; nil for distances.
    public var pValue: Double?

    /// A result from its parts.
    public init(statistic: Double, pValue: Double?) {
        self.statistic = statistic
        self.pValue = pValue
    }
}
