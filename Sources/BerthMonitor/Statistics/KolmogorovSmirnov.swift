import Foundation

/// The two-sample Kolmogorov–Smirnov test (two-sided), as SciPy's `ks_2samp(method="auto")`
/// computes it: the exact null distribution when both samples have at most 10,000 values, the
/// asymptotic one (`kstwo`) otherwise.
public enum KolmogorovSmirnov {
    /// SciPy's limit for the exact computation.
    static let maxExactN = 10_000

    /// D = sup |F₁ − F₂| over the pooled values, and its p-value. Both samples must be non-empty
    /// and free of NaN (the drift detector drops NaN first).
    public static func twoSample(_ a: [Double], _ b: [Double]) throws -> TestResult {
        guard !a.isEmpty, !b.isEmpty else { throw MonitorError.undefined("the KS test needs two non-empty samples") }
        let x = a.sorted(), y = b.sorted()
        let n1 = x.count, n2 = y.count
        // Walk the pooled values in order; at each, both ECDFs count values ≤ it (SciPy's searchsorted right).
        var i = 0, j = 0
        var maxS = 0.0, minS = 0.0
        while i < n1 || j < n2 {
            let v: Double
            if j >= n2 || (i < n1 && x[i] <= y[j]) { v = x[i] } else { v = y[j] }
            while i < n1 && x[i] <= v { i += 1 }
            while j < n2 && y[j] <= v { j += 1 }
            let diff = Double(i) / Double(n1) - Double(j) / Double(n2)
            maxS = max(maxS, diff)
            minS = min(minS, diff)
        }
        let d = max(maxS, min(max(-minS, 0), 1))
        if max(n1, n2) <= maxExactN, let (dExact, p) = exactPValue(n1, n2, d) {
            return TestResult(statistic: dExact, pValue: min(max(p, 0), 1))
        }
        let m = Double(max(n1, n2)), n = Double(min(n1, n2))
        let en = (m * n / (m + n)).rounded(.toNearestOrEven)
        return TestResult(statistic: d, pValue: min(max(KolmogorovDistribution.sf(d, n: Int(en)), 0), 1))
    }

    /// SciPy's `_attempt_exact_2kssamp`: D snapped to the lattice of 1/lcm(n1, n2), then the
    /// probability of a larger deviation. Nil when the computation leaves [0, 1] or overflows.
    static func exactPValue(_ n1: Int, _ n2: Int, _ d: Double) -> (Double, Double)? {
        let g = gcd(n1, n2)
        let (lcm, overflow) = (n1 / g).multipliedReportingOverflow(by: n2)
        guard !overflow else { return nil }
        let h = Int((d * Double(lcm)).rounded(.toNearestOrEven))
        let dSnapped = Double(h) / Double(lcm)
        if h == 0 { return (dSnapped, 1) }
        let p = n1 == n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h)
        guard p.isFinite, p >= 0, p <= 1 else { return nil }
        return (dSnapped, p)
    }

    /// P(D ≥ h/n) for two samples of n values (SciPy's `_compute_prob_outside_square`).
    static func probOutsideSquare(_ n: Int, _ h: Int) -> Double {
        var p = 0.0
        var k = n / h
        while k >= 0 {
            var p1 = 1.0
            for j in 0..<h { p1 = Double(n - k * h - j) * p1 / Double(n + k * h + j + 1) }
            p = p1 * (1 - p)
            k -= 1
        }
        return 2 * p
    }

    /// 1 − the share of lattice paths staying strictly inside |x/m − y/n| < h/lcm (SciPy's
    /// `_compute_outer_prob_inside_method`, Viehmann's stable recursion).
    static func outerProbInside(_ m0: Int, _ n0: Int, _ g: Int, _ h: Int) -> Double {
        let m = max(m0, n0), n = min(m0, n0)
        let mg = m / g, ng = n / g
        var minj = 0
        var maxj = min(Int((Double(h) / Double(mg)).rounded(.up)), n + 1)
        var curlen = maxj - minj
        // SciPy sizes this min(2·maxj + 2, n + 1); a full column is as cheap here and needs no bound checks.
        let lenA = n + 2
        var a = [Double](repeating: 1, count: lenA)
        for k in minj..<maxj { a[k] = 0 }
        for i in 1...m {
            let lastminj = minj, lastlen = curlen
            minj = max(Int((Double(ng * i - h) / Double(mg)).rounded(.down)) + 1, 0)
            minj = min(minj, n)
            maxj = min(Int((Double(ng * i + h) / Double(mg)).rounded(.up)), n + 1)
            if maxj <= minj { return 1 }
            var val = minj == 0 ? 0.0 : 1.0
            for jj in 0..<(maxj - minj) {
                let j = jj + minj
                val = (a[jj + minj - lastminj] * Double(i) + val * Double(j)) / Double(i + j)
                a[jj] = val
            }
            curlen = maxj - minj
            if lastlen > curlen {
                for k in (maxj - minj)..<(maxj - minj + (lastlen - curlen)) { a[k] = 1 }
            }
        }
        return a[maxj - minj - 1]
    }

    static func gcd(_ a: Int, _ b: Int) -> Int {
        var a = a, b = b
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }
}
