/// Shape arithmetic shared by tensors and kernels. Shapes that come from files are untrusted, so
/// every element count is computed with overflow checks.
public enum Shape {
    /// The element count of `shape`, or an error if a dimension is negative or the product overflows.
    public static func elementCount(_ shape: [Int]) throws -> Int {
        var n = 1
        for d in shape {
            guard d >= 0 else { throw TensorError.invalidShape(shape, reason: "negative dimension \(d)") }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { throw TensorError.invalidShape(shape, reason: "element count overflows") }
            n = p
        }
        return n
    }

    /// The bytes `shape` needs in dense storage of `dtype` (0 for strings, which have no fixed
    /// size), or an error if a dimension is negative or the element or byte count overflows.
    public static func byteCount(_ shape: [Int], dtype: DType) throws -> Int {
        let (bytes, overflow) = try elementCount(shape).multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw TensorError.invalidShape(shape, reason: "byte count of \(dtype) elements overflows") }
        return bytes
    }

    /// Row-major strides of `shape` in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc &*= shape[i]  // wraps only for empty tensors with huge dims, whose strides are never used
        }
        return s
    }

    /// The NumPy broadcast of two shapes, or nil when they are incompatible.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// Normalises a possibly negative axis against `rank`, or nil when it is out of range.
    public static func normalizeAxis(_ axis: Int, rank: Int) -> Int? {
        let a = axis < 0 ? axis + rank : axis
        return (a >= 0 && a < rank) ? a : nil
    }
}
