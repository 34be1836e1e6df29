/// A float initializer being rewritten: its shape and row-major values.
struct FloatArray {
    var shape: [Int]
    var values: [Float]

    /// Keeps only the indices `keep` (ascending) along `axis`.
    func keeping(_ keep: [Int], along axis: Int) -> FloatArray {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *), n = shape[axis]
        var out: [Float] = []
        out.reserveCapacity(outer * keep.count * inner)
        for o in 0..<outer {
            for k in keep {
                let base = (o * n + k) * inner
                out.append(contentsOf: values[base..<(base + inner)])
            }
        }
        var s = shape
        s[axis] = keep.count
        return FloatArray(shape: s, values: out)
    }

    /// The L2 norm of each slice along `axis` (how much a unit's weights carry).
    func norms(along axis: Int) -> [Double] {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *), n = shape[axis]
        var sums = [Double](repeating: 0, count: n)
        for o in 0..<outer {
            for k in 0..<n {
                let base = (o * n + k) * inner
                for v in values[base..<(base + inner)] { sums[k] += Double(v) * Double(v) }
            }
        }
        return sums.map { $0.squareRoot() }
    }
}
