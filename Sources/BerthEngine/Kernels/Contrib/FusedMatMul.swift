import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// FusedMatMul: Y = alpha · op(A) @ op(B) with NumPy batching, where op transposes the last
    /// two axes (`transA` / `transB`) after moving the first axis just before the last two
    /// (`transBatchA` / `transBatchB`: [d0, d1, …, dk, n] → [d1, …, dk, d0, n]).
    mutating func registerContribFusedMatMul() {
        register("FusedMatMul", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let alpha = try node.float("alpha", default: 1)
            let transA = try node.int("transA", default: 0) != 0, transB = try node.int("transB", default: 0) != 0
            let batchA = try node.int("transBatchA", default: 0) != 0, batchB = try node.int("transBatchB", default: 0) != 0
            return { inputs, ctx in
                let a = try fusedMatMulOperand(try inputs.required(0), batch: batchA, trans: transA, pool: ctx.pool, "A")
                let b = try fusedMatMulOperand(try inputs.required(1), batch: batchB, trans: transB, pool: ctx.pool, "B")
                let y = try mathMatMul(a, b, pool: ctx.pool)
                guard alpha != 1 else { return [y] }
                guard y.dtype == .float32 else { throw KernelError("FusedMatMul with alpha needs float inputs, got \(y.dtype)") }
                return [Tensor(unchecked: y.shape, storage: .float32(y.floats.map { $0 * alpha }))]
            }
        }
    }
}

/// A (or B) with FusedMatMul's batch and matrix transposes applied.
private func fusedMatMulOperand(_ x: Tensor, batch: Bool, trans: Bool, pool: ThreadPool, _ what: String) throws -> Tensor {
    guard batch || trans else { return x }
    guard x.rank >= 2 else { throw KernelError("FusedMatMul \(what) must have rank >= 2 to be transposed, got shape \(x.shape)") }
    let r = x.rank
    var perm = Array(0..<r)
    if batch && r > 2 { perm = Array(1..<(r - 1)) + [0, r - 1] }
    if trans { perm.swapAt(r - 2, r - 1) }
    return try TensorFamily.transpose(x, perm: perm, pool: pool)
}
