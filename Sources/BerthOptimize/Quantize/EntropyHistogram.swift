import Foundation

/// ONNX Runtime's entropy calibration (`HistogramCollector` with method "entropy", 128 bins, 128
/// quantized bins), so `--calibrate entropy` picks the ranges ORT's `quantize_static` would:
///
/// - each batch is binned over [−t, t], t = max |x| of the first batch; a batch with a larger |x|
///   widens the histogram by whole bins of the old width on both sides (so the bin count grows);
/// - the threshold is the symmetric window around the zero bin, from 128 bins to all of them, whose
///   distribution p (outliers folded into its end bins) has the smallest KL divergence from q, p
///   merged into 128 quantized bins and spread back over p's non-empty bins (both smoothed);
/// - the window is clipped to the observed [min, max].
struct EntropyHistogram {
    private(set) var counts: [Int64]
    private(set) var edges: [Float]
    private(set) var minimum: Float
    private(set) var maximum: Float
    private(set) var threshold: Float

    static let bins = 128
    static let quantizedBins = 128

    init(_ values: [Float]) {
        let (lo, hi) = Self.extremes(values)
        minimum = lo
        maximum = hi
        threshold = max(abs(lo), abs(hi))
        (counts, edges) = Self.histogram(values, bins: Self.bins, threshold: threshold)
    }

    /// Adds a batch as ORT's `merge_histogram` does.
    mutating func merge(_ values: [Float]) {
        let (lo, hi) = Self.extremes(values)
        let t = max(abs(lo), abs(hi))
        if t <= threshold {
            let (c, _) = Self.histogram(values, bins: counts.count, threshold: threshold)
            for i in counts.indices { counts[i] += c[i] }
        } else if threshold == 0 {
            let (c, e) = Self.histogram(values, bins: counts.count, threshold: t)
            for i in counts.indices { counts[i] += c[i] }
            edges = e
            threshold = t
        } else {
            let oldBins = counts.count
            let stride = 2 * threshold / Float(oldBins)
            let half = Int(((t - threshold) / stride).rounded(.down)) + 1
            let widened = Float(half) * stride + threshold
            var (c, e) = Self.histogram(values, bins: oldBins + 2 * half, threshold: widened)
            for i in 0..<oldBins { c[half + i] += counts[i] }
            counts = c
            edges = e
            threshold = widened
        }
        minimum = min(minimum, lo)
        maximum = max(maximum, hi)
    }

    /// The (min, max) range with the smallest KL divergence (ORT's `get_entropy_threshold`).
    func entropyThreshold() -> (min: Float, max: Float) {
        let n = counts.count, zero = n / 2, halfQ = Self.quantizedBins / 2
        guard zero >= halfQ else { return (max(edges[0], minimum), min(edges[n], maximum)) }
        var best = Double.infinity
        var chosen = (edges[0], edges[n])
        for i in halfQ...zero {
            let start = zero - i, end = min(zero + i + 1, n)
            let sliced = Array(counts[start..<end])
            var p = sliced
            p[0] += counts[..<start].reduce(0, +)
            p[p.count - 1] += counts[end...].reduce(0, +)
            let merged = sliced.count / Self.quantizedBins
            var quantized = [Int64](repeating: 0, count: Self.quantizedBins)
            for k in 0..<Self.quantizedBins { quantized[k] = sliced[(k * merged)..<(k * merged + merged)].reduce(0, +) }
            quantized[Self.quantizedBins - 1] += sliced[(Self.quantizedBins * merged)...].reduce(0, +)
            var q = [Int64](repeating: 0, count: p.count)
            for k in 0..<Self.quantizedBins {
                let range = (k * merged)..<(k * merged + merged)
                let norm = Int64(range.filter { p[$0] != 0 }.count)
                // ORT stores the spread value in an int64 array: truncated.
                if norm != 0 { for j in range { q[j] = quantized[k] / norm } }
            }
            let divergence: Double
            if let ps = Self.smooth(p), let qs = Self.smooth(q) { divergence = Self.kl(ps, qs) } else { divergence = .infinity }
            // np.argmin: the first smallest (the first candidate when all are infinite).
            if i == halfQ || divergence < best {
                best = divergence
                chosen = (edges[start], edges[end])
            }
        }
        return (max(chosen.0, minimum), min(chosen.1, maximum))
    }

    private static func extremes(_ v: [Float]) -> (Float, Float) {
        var lo = Float.infinity, hi = -Float.infinity
        for x in v where !x.isNaN { lo = min(lo, x); hi = max(hi, x) }
        return lo <= hi ? (lo, hi) : (0, 0)
    }

    /// numpy's `histogram(values, bins, range=(−t, t))`: equal float32 bins, the last one closed.
    static func histogram(_ values: [Float], bins: Int, threshold t: Float) -> ([Int64], [Float]) {
        // numpy widens an empty range to ±0.5.
        let first = t == 0 ? -0.5 : -Double(t), last = t == 0 ? 0.5 : Double(t)
        let edges = (0...bins).map { Float(first + (last - first) * Double($0) / Double(bins)) }
        var counts = [Int64](repeating: 0, count: bins)
        let norm = Double(bins) / (last - first)
        for x in values where !x.isNaN {
            let d = Double(x)
            guard d >= Double(edges[0]), d <= Double(edges[bins]) else { continue }
            var i = min(bins - 1, max(0, Int(((d - first) * norm).rounded(.down))))
            if x < edges[i] { i -= 1 }
            if i + 1 < bins, x >= edges[i + 1] { i += 1 }
            counts[max(0, i)] += 1
        }
        return (counts, edges)
    }

    /// ORT's `smooth_distribution`: zeros become eps, taken off the non-zero bins; nil when all are zero.
    private static func smooth(_ p: [Int64], eps: Float = 0.0001) -> [Float]? {
        let zeros = p.filter { $0 == 0 }.count, nonzeros = p.count - zeros
        guard nonzeros > 0 else { return nil }
        let eps1 = eps * Float(zeros) / Float(nonzeros)
        return p.map { $0 == 0 ? eps : Float($0) - eps1 }
    }

    /// scipy's `entropy(p, q)`: both normalized, Σ p log(p / q).
    private static func kl(_ p: [Float], _ q: [Float]) -> Double {
        let sp = p.reduce(0.0) { $0 + Double($1) }, sq = q.reduce(0.0) { $0 + Double($1) }
        var s = 0.0
        for i in p.indices {
            let a = Double(p[i]) / sp, b = Double(q[i]) / sq
            if a > 0 { s += a * log(a / b) }
        }
        return s
    }
}
