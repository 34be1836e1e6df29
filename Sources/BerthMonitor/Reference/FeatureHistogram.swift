import BerthEval

/// Reference and current distributions of one feature, on shared bins, as shares of rows: ten
/// equal-width bins over both samples' range for numbers, the most frequent categories (the rest
/// pooled as `other`) for text. What the dashboard draws beside each drift test.
public struct FeatureHistogram: Sendable, Encodable, Equatable {
    /// Bin labels: `[lo, hi)` ranges or category names.
    public var bins: [String]
    public var reference: [Double]
    public var current: [Double]

    /// Most categories shown before the rest are pooled.
    public static let maxCategories = 10

    /// The histogram of a reference and a current column.
    public init(reference: Column, current: Column, bins count: Int = 10) {
        if let r = reference.numbers, let c = current.numbers, !(r.isEmpty && c.isEmpty) {
            let all = (r + c).filter(\.isFinite)
            let lo = all.min() ?? 0, hi = all.max() ?? 0
            let width = hi > lo ? (hi - lo) / Double(count) : 1
            func shares(_ v: [Double]) -> [Double] {
                var h = [Double](repeating: 0, count: count)
                for x in v where x.isFinite { h[min(count - 1, max(0, Int((x - lo) / width)))] += 1 }
                return v.isEmpty ? h : h.map { $0 / Double(v.count) }
            }
            // Three significant digits keep bin labels short.
            func fmt(_ x: Double) -> String { String(format: "%.3g", x) }
            bins = (0..<count).map { "\(fmt(lo + Double($0) * width))–\(fmt(lo + Double($0 + 1) * width))" }
            self.reference = shares(r)
            self.current = shares(c)
            return
        }
        var frequency: [String: Int] = [:]
        for t in reference.text { frequency[t, default: 0] += 1 }
        let top = frequency.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(Self.maxCategories).map(\.key)
        let known = Set(top)
        func shares(_ v: [String]) -> [Double] {
            var h = [Double](repeating: 0, count: top.count + 1)
            for t in v { h[top.firstIndex(of: t) ?? top.count] += 1 }
            return v.isEmpty ? h : h.map { $0 / Double(v.count) }
        }
        bins = top + ["other"]
        self.reference = shares(reference.text)
        self.current = shares(current.text)
        if !reference.text.contains(where: { !known.contains($0) }) && !current.text.contains(where: { !known.contains($0) }) {
            bins.removeLast(); self.reference.removeLast(); self.current.removeLast()
        }
    }
}
