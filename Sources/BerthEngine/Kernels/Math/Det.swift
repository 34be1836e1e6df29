import BerthONNX
import BerthTensor

/// Det: the determinant of each trailing [M, M] matrix, by LU decomposition with partial pivoting
/// in Double.
func mathDet(_ x: Tensor) throws -> Tensor {
    guard x.rank >= 2, x.shape[x.rank - 1] == x.shape[x.rank - 2] else {
        throw KernelError("Det needs square matrices in the last two axes, got shape \(x.shape)")
    }
    guard x.dtype.isFloatingPoint else { throw KernelError("Det needs a floating-point input, got \(x.dtype)") }
    let m = x.shape[x.rank - 1]
    let outShape = Array(x.shape[..<(x.rank - 2)])
    let batch = outShape.reduce(1, &*)
    let v = x.doubles
    var dets = [Double](repeating: 0, count: batch)
    var a = [Double](repeating: 0, count: m * m)
    for b in 0..<batch {
        for i in 0..<(m * m) { a[i] = v[b * m * m + i] }
        var det = 1.0
        for c in 0..<m {
            var p = c
            for r in (c + 1)..<max(c + 1, m) where abs(a[r * m + c]) > abs(a[p * m + c]) { p = r }
            if a[p * m + c] == 0 { det = 0; break }
            if p != c {
                for k in 0..<m { a.swapAt(p * m + k, c * m + k) }
                det = -det
            }
            let pivot = a[c * m + c]
            det *= pivot
            for r in (c + 1)..<max(c + 1, m) {
                let f = a[r * m + c] / pivot
                if f == 0 { continue }
                for k in c..<m { a[r * m + k] -= f * a[c * m + k] }
            }
        }
        dets[b] = det
    }
    switch x.dtype {
    case .float32: return Tensor(unchecked: outShape, storage: .float32(dets.map { Float($0) }))
    case .float16: return Tensor(unchecked: outShape, storage: .float16(dets.map { Float16($0) }))
    default: return Tensor(unchecked: outShape, storage: .float64(dets))
    }
}

extension KernelRegistry {
    mutating func registerDet() {
        register("Det", opsets: 11...Int.max) { _, _ in
            { inputs, _ in [try mathDet(try inputs.required(0))] }
        }
    }
}
