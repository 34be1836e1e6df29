import Foundation

/// The Jensen–Shannon distance, as SciPy's `scipy.spatial.distance.jensenshannon(p, q)` computes it
/// (natural log): √((KL(p‖m) + KL(q‖m)) / 2) with m = (p + q)/2, after normalising p and q.
public enum JensenShannon {
    /// The distance between two frequency vectors of equal length.
    public static func distance(_ p0: [Double], _ q0: [Double]) throws -> Double {
        guard p0.count == q0.count, !p0.isEmpty else {
            throw MonitorError.undefined("the Jensen-Shannon distance needs two frequency vectors of one length")
        }
        let sp = p0.reduce(0, +), sq = q0.reduce(0, +)
        let p = p0.map { $0 / sp }, q = q0.map { $0 / sq }
        var left = 0.0, right = 0.0
        for (a, b) in zip(p, q) {
            let m = (a + b) / 2
            left += relativeEntropy(a, m)
            right += relativeEntropy(b, m)
        }
        return ((left + right) / 2).squareRoot()
    }

    /// SciPy's `rel_entr`: x·log(x/y), 0 when x is 0.
    static func relativeEntropy(_ x: Double, _ y: Double) -> Double {
        if x == 0 && y >= 0 { return 0 }
        if x > 0 && y > 0 { return x * log(x / y) }
        return .infinity
    }

    /// Evidently's `jensenshannon` drift score: the distance of the two samples' shares
    /// (``Binning``, empty bins left at zero).
    public static func samples(reference: FeatureSample, current: FeatureSample) throws -> Double {
        let (r, c) = Binning.shares(reference: reference, current: current, fillZeros: false)
        return try distance(r, c)
    }
}
