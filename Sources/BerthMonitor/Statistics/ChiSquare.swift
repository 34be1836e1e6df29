/// Pearson's chi-squared goodness-of-fit test, as SciPy's `chisquare(f_obs, f_exp)` computes it:
/// χ² = Σ (obs − exp)² / exp with k − 1 degrees of freedom.
public enum ChiSquare {
    /// The statistic and p-value for observed against expected frequencies (equal lengths, at
    /// least one category). An expected zero with a non-zero observation gives χ² = ∞, p = 0,
    /// as SciPy gives.
    public static func test(observed: [Double], expected: [Double]) throws -> TestResult {
        guard observed.count == expected.count, !observed.isEmpty else {
            throw MonitorError.undefined("the chi-squared test needs as many expected as observed frequencies (got \(observed.count) and \(expected.count))")
        }
        var statistic = 0.0
        for (o, e) in zip(observed, expected) {
            let d = o - e
            statistic += e == 0 ? (d == 0 ? 0 : .infinity) : d * d / e
        }
        let dof = Double(observed.count - 1)
        let p = dof > 0 ? SpecialFunctions.gammaQ(dof / 2, statistic / 2) : .nan
        return TestResult(statistic: statistic, pValue: p)
    }

    /// Evidently's `chi_stat_test`: the categories are every value seen in either sample; the
    /// expected counts are the reference's counts scaled to the current sample's size.
    public static func categorical<T: Hashable & Comparable>(reference: [T], current: [T]) throws -> TestResult {
        let keys = Categories.union(reference, current)
        let ref = Categories.counts(reference, keys: keys), cur = Categories.counts(current, keys: keys)
        let scale = Double(current.count) / Double(reference.count)
        return try test(observed: cur, expected: ref.map { $0 * scale })
    }
}
