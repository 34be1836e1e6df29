import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// `GemmRelu` (from ``GemmActivationFusion``): an ONNX Gemm, same attributes and inputs, whose
    /// float32 result goes through Relu inside the product (the packed row product's registers at
    /// batch 1, oneDNN's eltwise post-op when batched), else in a pass over the output.
    mutating func registerFusedGemmRelu() {
        register("GemmRelu", domain: FusedOps.domain, opsets: 0...Int.max) { node, _ in
            let attrs = try MathGemmAttributes(node)
            let cache = MatMulBackendCache(constantWeight: PlanFacts.isInitializer(node, input: 1))
            return { inputs, _ in
                [try mathGemm(try inputs.required(0), try inputs.required(1), inputs.optional(2), attrs, cache: cache, relu: true)]
            }
        }
    }
}
