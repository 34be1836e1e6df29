import BerthTensor

/// Compares a shadow version's outputs with production's for one request. Integer, bool and
/// string outputs (labels) must be equal; float outputs with several columns compare by their
/// per-row argmax (the predicted class), single-column float outputs (regression) must be within
/// ``regressionTolerance``. The largest absolute float difference is reported either way.
enum ShadowComparison {
    static let regressionTolerance = 1e-4

    static func compare(production: [String: Tensor], shadow: [String: Tensor]) -> (agree: Bool, maxAbsDiff: Double?) {
        var agree = true
        var maxDiff: Double?
        for (name, p) in production {
            guard let s = shadow[name], s.shape == p.shape else { return (false, maxDiff) }
            if p.dtype.isFloatingPoint && s.dtype.isFloatingPoint {
                let a = p.doubles, b = s.doubles
                var d = 0.0
                for i in 0..<a.count { d = max(d, abs(a[i] - b[i])) }
                if a.contains(where: \.isNaN) != b.contains(where: \.isNaN) { d = .infinity }
                maxDiff = max(maxDiff ?? 0, d)
                let columns = p.shape.last ?? 1
                if p.rank >= 2, columns > 1 {
                    if argmaxRows(a, columns) != argmaxRows(b, columns) { agree = false }
                } else if d > regressionTolerance {
                    agree = false
                }
            } else if !equal(p.storage, s.storage) {
                agree = false
            }
        }
        return (agree, maxDiff)
    }

    private static func argmaxRows(_ v: [Double], _ columns: Int) -> [Int] {
        stride(from: 0, to: v.count, by: columns).map { start in
            var best = start
            for i in start..<min(start + columns, v.count) where v[i] > v[best] { best = i }
            return best - start
        }
    }

    private static func equal(_ a: TensorStorage, _ b: TensorStorage) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        default:
            guard a.count == b.count, a.dtype == b.dtype else { return false }
            return (0..<a.count).allSatisfy { a.double(at: $0) == b.double(at: $0) }
        }
    }
}
