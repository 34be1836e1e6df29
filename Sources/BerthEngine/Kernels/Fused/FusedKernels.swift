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
        // Conv + (Add) + activation from ConvFusion: ORT's FusedConv semantics, except that an added
        // value which does not have the output's shape is broadcast by the Add kernel.
        let onnxAdd = self.factory(domain: "", op: "Add", opset: 14)
        register("FusedConv", domain: FusedOps.domain, opsets: 0...Int.max) { node, _ in
            guard let onnxAdd else { throw KernelError("no Add kernel registered") }
            let act = try ContribActivation(node)
            var convNode = node
            convNode.attributes = node.attributes.filter { !$0.key.hasPrefix("activation") }
            let attrs = try NNConvAttributes(node: convNode)
            let cache = ConvBackendCache()
            let add = try onnxAdd(Node(name: "\(node.name)/add", opType: "Add", inputs: ["a", "b"], outputs: ["c"]), 14)
            return { inputs, ctx in
                let x = try inputs.required(0), w = try inputs.required(1), b = inputs.optional(2)
                guard let z = inputs.optional(3) else {
                    return [try nnConvFused(x: x, w: w, bias: b, z: nil, epilogue: ConvEpilogue(activation: act), attrs: attrs, cache: cache, pool: ctx.pool)]
                }
                if z.shape == (try attrs.shapes(x: x.shape, w: w.shape, op: "Conv").outShape) {
                    return [try nnConvFused(x: x, w: w, bias: b, z: z, epilogue: ConvEpilogue(activation: act), attrs: attrs, cache: cache, pool: ctx.pool)]
                }
                let y = try nnConvFused(x: x, w: w, bias: b, z: nil, epilogue: .none, attrs: attrs, cache: cache, pool: ctx.pool)
                let sum = try add([y, z], ctx)[0]
                guard act.kind != .identity else { return [sum] }
                var v = try contribFloats(sum, "Conv + Add output")
                act.apply(&v)
                return [Tensor(unchecked: sum.shape, storage: .float32(v))]
            }
        }
        registerFusedQuantizedMatMul()
        registerFusedGemmRelu()
        registerFusedHeadsAttention()
        registerFusedQuantizedConv()
        #if canImport(CDNNL)
        registerBlockedRegionKernel()
        #endif
        // activation = "gelu": an exact GELU absorbed by MatMulActivationFusion.
        register("MatMulBias", domain: FusedOps.domain, opsets: 0...Int.max) { node, _ in
            let activation = try node.string("activation", default: "")
            guard activation.isEmpty || activation == "gelu" else { throw KernelError("MatMulBias activation must be \"gelu\" or absent, got \"\(activation)\"") }
            let gelu = activation == "gelu"
            let cache = MatMulBackendCache(constantWeight: PlanFacts.isInitializer(node, input: 1))
            return { inputs, ctx in [try matMulBias(try inputs.required(0), try inputs.required(1), try inputs.required(2), ctx, cache: cache, gelu: gelu)] }
        }
    }
}

/// `A[..., K] @ W[K, N] + bias[N]` in one sgemm over all leading rows: the output is seeded with
/// the bias and the product is accumulated with beta = 1.
/// With a `cache`, the product runs on oneDNN's matmul with W packed once and the bias as its bias.
/// With `gelu`, the result goes through exact GELU (oneDNN's post-op, or a pass after GEMM).
func matMulBias(_ a: Tensor, _ w: Tensor, _ bias: Tensor, _ ctx: KernelContext, cache: MatMulBackendCache? = nil, gelu: Bool = false) throws -> Tensor {
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
    if let cache, m > 0, k > 0, n > 0 {
        var done = false
        let out = [Float](unsafeUninitializedCapacity: total) { buf, count in
            count = total
            done = av.withUnsafeBufferPointer { cache.run(a: $0.baseAddress!, m: m, k: k, n: n, w: wv, transposedB: false, bias: bv, c: buf.baseAddress!, gelu: gelu) }
        }
        if done { return Tensor(unchecked: outShape, storage: .float32(out)) }
    }
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
        if gelu { geluInPlace(base, count: total, pool: ctx.pool) }
        count = total
    }
    return Tensor(unchecked: outShape, storage: .float32(out))
}

/// Exact GELU over `count` floats in place (eight lanes at a time, split across the pool).
func geluInPlace(_ p: UnsafeMutablePointer<Float>, count: Int, pool: ThreadPool) {
    let groups = count / 8
    pool.parallelFor(groups, minChunk: 2048) { r in
        for g in r { ewStore(ewGelu(ewLoad(p + 8 * g)), p + 8 * g) }
    }
    let tail = count - 8 * groups
    guard tail > 0 else { return }
    var v = EWVector(repeating: 0)
    for i in 0..<tail { v[i] = p[8 * groups + i] }
    let y = ewGelu(v)
    for i in 0..<tail { p[8 * groups + i] = y[i] }
}
