/// A way to decide whether one column drifted: a hypothesis test (drift when p < threshold) or a
/// distance (drift when distance ≥ threshold). Names and thresholds are Evidently's.
public enum DriftMethod: String, Sendable, Codable, CaseIterable {
    /// Two-sample Kolmogorov–Smirnov (numbers).
    case ks
    /// Chi-squared goodness of fit against the reference's frequencies (categories).
    case chisquare
    /// Two-proportion Z-test (two categories).
    case z
    /// Wasserstein distance divided by the reference's standard deviation (numbers).
    case wasserstein
    /// Jensen–Shannon distance of the binned or categorical frequencies.
    case jensenshannon
    /// Population stability index of the same frequencies.
    case psi

    /// True for hypothesis tests, whose statistic comes with a p-value.
    public var isHypothesisTest: Bool { self == .ks || self == .chisquare || self == .z }

    /// Evidently's default threshold: a p-value of 0.05 for tests, 0.1 for distances.
    public var defaultThreshold: Double { isHypothesisTest ? 0.05 : 0.1 }

    /// Whether the method needs numbers (KS and Wasserstein); the others compare frequencies.
    public var needsNumbers: Bool { self == .ks || self == .wasserstein }

    /// Whether `statistic` (or its p-value) means drift at `threshold`. Evidently's KS counts
    /// p ≤ threshold as drift, its other tests p < threshold.
    public func drifted(_ result: TestResult, threshold: Double) -> Bool {
        if self == .ks { return (result.pValue ?? 1) <= threshold }
        if isHypothesisTest { return (result.pValue ?? 1) < threshold }
        return result.statistic >= threshold
    }
}

/// How a column is tested: as numbers or as categories.
public enum FeatureKind: String, Sendable, Codable {
    /// Compared as numbers (KS, Wasserstein; binned for JS/PSI).
    case numerical = "num"
    /// Compared as category frequencies (chi-squared, Z; per category for JS/PSI).
    case categorical = "cat"
}
