import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Inverse (com.microsoft): the inverse of each [n, n] matrix of X [..., n, n], by
    /// Gauss–Jordan elimination with partial pivoting in Double. A singular matrix is an error
    /// (ORT's Eigen kernel returns non-finite values for it).
    mutating func registerContribInverse() {
        register("Inverse", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            { inputs, _ in
                let x = try inputs.required(0)
                guard x.dtype.isFloatingPoint, x.rank >= 2, x.shape[x.rank - 1] == x.shape[x.rank - 2] else {
                    throw KernelError("Inverse needs floating-point square matrices [..., n, n], got \(x.dtype)\(x.shape)")
                }
                let n = x.shape[x.rank - 1]
                let v = x.doubles
                var out = [Double](repeating: 0, count: v.count)
                let size = n * n
                for m in 0..<(size == 0 ? 0 : v.count / size) {
                    var a = Array(v[(m * size)..<((m + 1) * size)])
                    var inv = [Double](repeating: 0, count: size)
                    for i in 0..<n { inv[i * n + i] = 1 }
                    for col in 0..<n {
                        var pivot = col
                        for r in (col + 1)..<max(col + 1, n) where abs(a[r * n + col]) > abs(a[pivot * n + col]) { pivot = r }
                        guard a[pivot * n + col] != 0, a[pivot * n + col].isFinite else { throw KernelError("Inverse: matrix \(m) is singular") }
                        if pivot != col {
                            for c in 0..<n { a.swapAt(pivot * n + c, col * n + c); inv.swapAt(pivot * n + c, col * n + c) }
                        }
                        let p = a[col * n + col]
                        for c in 0..<n { a[col * n + c] /= p; inv[col * n + c] /= p }
                        for r in 0..<n where r != col {
                            let f = a[r * n + col]
                            if f == 0 { continue }
                            for c in 0..<n { a[r * n + c] -= f * a[col * n + c]; inv[r * n + c] -= f * inv[col * n + c] }
                        }
                    }
                    out.replaceSubrange((m * size)..<((m + 1) * size), with: inv)
                }
                return [try doublesTensor(out, shape: x.shape, dtype: x.dtype)]
            }
        }
    }
}
