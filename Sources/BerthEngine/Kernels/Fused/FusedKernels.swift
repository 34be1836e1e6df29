import BerthONNX
import BerthTensor

/// Operators that only the optimizer creates; they live in Berth's own domain so they can never
/// clash with a model's operators.
enum FusedOps {
    static let domain = "com.berth.fused"
}

extension KernelRegistry {
    /// Registers kernels for the optimizer's fused operators.
    mutating func registerFusedKernels() {
        let onnxGelu = self.factory(domain: "", op: "Gelu", opset: 20)
        register("Gelu", domain: FusedOps.domain, opsets: 0...Int.max) { node, _ in
            guard let onnxGelu else { throw KernelError("no Gelu kernel registered") }
            var n = node
            n.domain = ""
            return try onnxGelu(n, 20)
        }
        register("MatMulBias", domain: FusedOps.domain, opsets: 0...Int.max) { _, _ in
            return { inputs, ctx in [try matMulBias(try inputs.required(0), try inputs.required(1), try inputs.required(2), ctx)] }
        }
    }
}

/// `A[..., K] @ W[K, N] + bias[N]` in one sgemm over all leading rows: the output is seeded with
/// the bias and the product is accumulated with beta = 1.
func matMulBias(_ a: Tensor, _ w: Tensor, _ bias: Tensor, _ ctx: KernelContext) throws -> Tensor {
    guard a.dtype == .float32, w.dtype == .float32, bias.dtype == .float32 else {
        throw KernelError("MatMulBias needs float inputs, got \(a.dtype), \(w.dtype), \(bias.dtype)")
    }
    guard a.rank >= 1, w.rank == 2, let k = a.shape.last, k == w.shape[0], bias.count == w.shape[1] else {
        throw KernelError("shapes \(a.shape) @ \(w.shape) + \(bias.shape) do not line up")
    }
    let n = w.shape[1]
    let m = k == 0 ? (try Shape.elementCount(Array(a.shape.dropLast()))) : a.count / k
    let outShape = a.rank == 1 ? [n] : Array(a.shape.dropLast()) + [n]
    let total = try Shape.elementCount(outShape)
    let av = a.floats, wv = w.floats, bv = bias.floats
    let out = [Float](unsafeUninitializedCapacity: total) { buf, count in
        let base = buf.baseAddress!
        bv.withUnsafeBufferPointer { b in
            for r in 0..<m { (base + r * n).initialize(from: b.baseAddress!, count: n) }
        }
        av.withUnsafeBufferPointer { ap in
            wv.withUnsafeBufferPointer { wp in
                BLAS.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: ap.baseAddress!, lda: max(k, 1),
                           b: wp.baseAddress!, ldb: max(n, 1), beta: 1, c: base, ldc: max(n, 1))
            }
        }
        count = total
    }
    return Tensor(unchecked: outShape, storage: .float32(out))
}
