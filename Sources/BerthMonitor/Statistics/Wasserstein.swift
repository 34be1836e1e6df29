/// The first Wasserstein (earth mover's) distance between two samples, as SciPy's
/// `wasserstein_distance(u, v)` computes it: ∫ |U(x) − V(x)| dx over the pooled sorted values.
public enum Wasserstein {
    /// W₁(u, v); both samples non-empty.
    public static func distance(_ u: [Double], _ v: [Double]) throws -> Double {
        guard !u.isEmpty, !v.isEmpty else { throw MonitorError.undefined("the Wasserstein distance needs two non-empty samples") }
        let a = u.sorted(), b = v.sorted()
        let all = (a + b).sorted()
        var i = 0, j = 0, total = 0.0
        for k in 0..<(all.count - 1) {
            let x = all[k]
            while i < a.count && a[i] <= x { i += 1 }
            while j < b.count && b[j] <= x { j += 1 }
            total += abs(Double(i) / Double(a.count) - Double(j) / Double(b.count)) * (all[k + 1] - x)
        }
        return total
    }

    /// Evidently's `wasserstein_distance_norm`: W₁ divided by the reference's population standard
    /// deviation (NumPy's `np.std`), floored at 0.001 so a constant reference does not divide by zero.
    public static func normed(reference: [Double], current: [Double]) throws -> Double {
        try distance(reference, current) / max(Moments.standardDeviation(reference), 0.001)
    }
}
