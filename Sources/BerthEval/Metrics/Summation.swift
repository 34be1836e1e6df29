/// Sums with Neumaier's compensated summation, so metrics over many rows stay within a few ulps
/// of the exact sum (NumPy's pairwise sums are as close), whatever the row order.
struct CompensatedSum {
    private var sum = 0.0
    private var compensation = 0.0

    /// Adds one term.
    mutating func add(_ x: Double) {
        let t = sum + x
        if abs(sum) >= abs(x) { compensation += (sum - t) + x } else { compensation += (x - t) + sum }
        sum = t
    }

    /// The sum so far.
    var value: Double { sum + compensation }

    /// The compensated sum of a sequence.
    static func of<S: Sequence>(_ values: S) -> Double where S.Element == Double {
        var s = CompensatedSum()
        for v in values { s.add(v) }
        return s.value
    }
}
