import Foundation

/// The two-proportion Z-test (pooled variance, two-sided), as Evidently's `z_stat_test` runs it on
/// a column with two categories: the proportion tested is that of every value other than the
/// first category in sorted order.
public enum ZTest {
    /// z = (p₁ − p₂) / √(P(1 − P)(1/n₁ + 1/n₂)), P the pooled proportion; p = 2(1 − Φ(|z|)).
    public static func proportions(successes1: Int, n1: Int, successes2: Int, n2: Int) throws -> TestResult {
        guard n1 > 0, n2 > 0 else { throw MonitorError.undefined("the Z-test needs two non-empty samples") }
        let p1 = Double(successes1) / Double(n1), p2 = Double(successes2) / Double(n2)
        let pooled = (p1 * Double(n1) + p2 * Double(n2)) / Double(n1 + n2)
        let z = (p1 - p2) / (pooled * (1 - pooled) * (1 / Double(n1) + 1 / Double(n2))).squareRoot()
        return TestResult(statistic: z, pValue: 2 * (1 - SpecialFunctions.normalCDF(abs(z))))
    }

    /// Evidently's rule on two samples of categories: identical single-valued samples give p = 1;
    /// otherwise rows equal to the first category (sorted) count 0, all others 1.
    public static func categorical<T: Hashable & Comparable>(reference: [T], current: [T]) throws -> TestResult {
        let keys = Categories.union(reference, current)
        guard let first = keys.first else { throw MonitorError.undefined("the Z-test needs two non-empty samples") }
        if keys.count == 1 { return TestResult(statistic: 0, pValue: 1) }
        let s1 = reference.count { $0 != first }, s2 = current.count { $0 != first }
        return try proportions(successes1: s1, n1: reference.count, successes2: s2, n2: current.count)
    }
}
