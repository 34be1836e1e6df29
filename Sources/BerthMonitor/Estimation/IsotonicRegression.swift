/// Increasing isotonic regression fitted by pool-adjacent-violators, as scikit-learn's
/// `IsotonicRegression(increasing=True, out_of_bounds="clip")` fits and predicts: equal inputs are
/// pooled first (their targets averaged), and predictions interpolate linearly between the fitted
/// points, clipped to the fitted range.
public struct IsotonicRegression: Sendable {
    /// The fitted points' inputs, increasing.
    public private(set) var xs: [Double] = []
    /// The fitted values at `xs`, non-decreasing.
    public private(set) var ys: [Double] = []

    /// Fits `y` against `x` (equal lengths, at least one point).
    public init(x: [Double], y: [Double]) throws {
        guard x.count == y.count, !x.isEmpty else {
            throw MonitorError.undefined("isotonic regression needs as many targets as inputs, and at least one (got \(x.count) and \(y.count))")
        }
        let order = x.indices.sorted { x[$0] != x[$1] ? x[$0] < x[$1] : y[$0] < y[$1] }
        // Pool equal inputs: one point per distinct x, weighted by how many rows share it.
        var ux: [Double] = [], uy: [Double] = [], w: [Double] = []
        for i in order {
            if let last = ux.last, last == x[i] {
                uy[uy.count - 1] += y[i]
                w[w.count - 1] += 1
            } else {
                ux.append(x[i]); uy.append(y[i]); w.append(1)
            }
        }
        for k in uy.indices { uy[k] /= w[k] }
        // Pool adjacent violators: blocks of (mean, weight, length).
        var means: [Double] = [], weights: [Double] = [], lengths: [Int] = []
        for k in uy.indices {
            means.append(uy[k]); weights.append(w[k]); lengths.append(1)
            while means.count > 1 && means[means.count - 2] >= means[means.count - 1] {
                let m2 = means.removeLast(), w2 = weights.removeLast(), l2 = lengths.removeLast()
                let w1 = weights[weights.count - 1]
                means[means.count - 1] = (means[means.count - 1] * w1 + m2 * w2) / (w1 + w2)
                weights[weights.count - 1] = w1 + w2
                lengths[lengths.count - 1] += l2
            }
        }
        var fitted: [Double] = []
        for (m, l) in zip(means, lengths) { fitted += Array(repeating: m, count: l) }
        // Keep the first and last point of each flat run: interpolation between them is the same.
        var keep = [Bool](repeating: true, count: fitted.count)
        if fitted.count > 2 {
            for k in 1..<(fitted.count - 1) { keep[k] = fitted[k - 1] != fitted[k] || fitted[k] != fitted[k + 1] }
        }
        xs = ux.indices.filter { keep[$0] }.map { ux[$0] }
        ys = fitted.indices.filter { keep[$0] }.map { fitted[$0] }
    }

    /// The fitted value at `x` (`np.interp` over the fitted points, clipped at the ends).
    public func predict(_ x: Double) -> Double {
        guard let first = xs.first, let last = xs.last else { return .nan }
        if x <= first { return ys[0] }
        if x >= last { return ys[ys.count - 1] }
        var lo = 0, hi = xs.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if xs[mid] <= x { lo = mid } else { hi = mid }
        }
        let t = (x - xs[lo]) / (xs[hi] - xs[lo])
        return ys[lo] + t * (ys[hi] - ys[lo])
    }
}
