import Foundation

/// Evidently's `get_binned_data`: the share of each sample in each bin. Numbers whose reference has
/// more than 20 distinct values are binned on NumPy's Sturges edges over both samples pooled;
/// anything else is counted per distinct value of either sample.
public enum Binning {
    /// Reference and current shares, bin by bin. With `fillZeros` (PSI), empty bins get a small
    /// share (a millionth of the smallest non-zero one if that is ≤ 1e-4, else 1e-4) so logs stay finite.
    public static func shares(reference: FeatureSample, current: FeatureSample, fillZeros: Bool) -> (reference: [Double], current: [Double]) {
        var ref: [Double], cur: [Double]
        if case let .numbers(r) = reference, case let .numbers(c) = current, Set(r).count > 20 {
            let edges = sturgesEdges(r + c)
            ref = histogram(r, edges: edges).map { Double($0) / Double(r.count) }
            cur = histogram(c, edges: edges).map { Double($0) / Double(c.count) }
        } else {
            let r = reference.categories, c = current.categories
            let keys = Categories.union(r, c)
            ref = Categories.counts(r, keys: keys).map { $0 / Double(r.count) }
            cur = Categories.counts(c, keys: keys).map { $0 / Double(c.count) }
        }
        if fillZeros {
            fill(&ref)
            fill(&cur)
        }
        return (ref, cur)
    }

    private static func fill(_ shares: inout [Double]) {
        guard let smallest = shares.filter({ $0 != 0 }).min() else { return }
        let filler = smallest <= 0.0001 ? smallest / 1e6 : 0.0001
        for i in shares.indices where shares[i] == 0 { shares[i] = filler }
    }

    /// `np.histogram_bin_edges(values, bins="sturges")`: width ptp/(log₂ n + 1), ⌈ptp/width⌉ equal
    /// bins from the minimum to the maximum (±0.5 around a constant), edges as `np.linspace` makes them.
    static func sturgesEdges(_ values: [Double]) -> [Double] {
        var first = values.min() ?? 0, last = values.max() ?? 0
        let ptp = last - first
        if first == last { first -= 0.5; last += 0.5 }
        let width = ptp / (log2(Double(values.count)) + 1)
        let bins = width != 0 ? Int(((last - first) / width).rounded(.up)) : 1
        let step = (last - first) / Double(bins)
        var edges = (0...bins).map { Double($0) * step + first }
        edges[bins] = last
        return edges
    }

    /// `np.histogram(values, edges)`: bin k holds edgeₖ ≤ x < edgeₖ₊₁, the last bin also its right edge.
    static func histogram(_ values: [Double], edges: [Double]) -> [Int] {
        let sorted = values.sorted()
        func lowerBound(_ v: Double, inclusive: Bool) -> Int {
            var lo = 0, hi = sorted.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if inclusive ? sorted[mid] <= v : sorted[mid] < v { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        var cumulative = edges.dropLast().map { lowerBound($0, inclusive: false) }
        cumulative.append(lowerBound(edges[edges.count - 1], inclusive: true))
        return (0..<(edges.count - 1)).map { cumulative[$0 + 1] - cumulative[$0] }
    }
}
