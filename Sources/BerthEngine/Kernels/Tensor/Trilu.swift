import BerthONNX
import BerthTensor

/// Trilu: keeps the upper (or lower) triangle of the last two axes from diagonal `k`, zeroing the rest.
extension TensorFamily {
    static func trilu(_ x: Tensor, k: Int, upper: Bool, pool: ThreadPool) throws -> Tensor {
        guard x.rank >= 2 else { throw KernelError("Trilu needs an input of rank 2 or more, got shape \(x.shape)") }
        let rows = x.shape[x.rank - 2], cols = x.shape[x.rank - 1]
        // An element (i, j) is kept when j - i >= k (upper) or j - i <= k (lower); build the kept
        // offsets of one matrix and gather, with -1 giving the zero fill.
        let count = try TensorFamily.count(x.shape)
        if count == 0 { return x }
        var table = [Int](repeating: -1, count: rows * cols)
        for i in 0..<rows {
            for j in 0..<cols {
                let d = j - i
                if upper ? d >= k : d <= k { table[i * cols + j] = i * cols + j }
            }
        }
        let batch = count / (rows * cols)
        return try gather(x.storage, dims: [batch, rows * cols], axes: [.affine(offset: 0, stride: rows * cols), .table(table)],
                          outShape: x.shape, pool: pool)
    }

    static func registerTrilu(_ r: inout KernelRegistry) {
        r.register("Trilu", opsets: 14...Int.max) { node, _ in
            let upper = try node.int("upper", default: 1) != 0
            return { inputs, ctx in
                var k = 0
                if let kt = inputs.optional(1) {
                    let v = try ints(kt, "Trilu k")
                    guard v.count == 1 else { throw KernelError("Trilu k must be a scalar, got \(v.count) elements") }
                    // Clamped so that j - i comparisons cannot overflow; beyond the matrix the result is the same.
                    k = min(max(v[0], -(1 << 40)), 1 << 40)
                }
                return [try trilu(try inputs.required(0), k: k, upper: upper, pool: ctx.pool)]
            }
        }
    }
}
