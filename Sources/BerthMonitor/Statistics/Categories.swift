/// Category bookkeeping shared by the categorical tests.
enum Categories {
    /// Every distinct value of either sample, sorted (the order never changes a statistic beyond
    /// rounding, and sorting keeps results reproducible).
    static func union<T: Hashable & Comparable>(_ a: [T], _ b: [T]) -> [T] {
        Array(Set(a).union(b)).sorted()
    }

    /// How often each key occurs in `values`.
    static func counts<T: Hashable>(_ values: [T], keys: [T]) -> [Double] {
        var n: [T: Int] = [:]
        for v in values { n[v, default: 0] += 1 }
        return keys.map { Double(n[$0] ?? 0) }
    }
}
