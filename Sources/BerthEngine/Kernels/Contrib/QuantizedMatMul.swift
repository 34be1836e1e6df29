import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// MatMulIntegerToFloat and DynamicQuantizeMatMul, which ORT's optimizer writes for
    /// dynamically quantized models: the 8-bit product is exact in int32 (MatMulInteger), then
    /// scaled to float by a_scale · b_scale (b_scale scalar or per column) and biased.
    /// DynamicQuantizeMatMul first quantizes its float A as DynamicQuantizeLinear does.
    mutating func registerContribQuantizedMatMul() {
        register("MatMulIntegerToFloat", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            let backend = Int8MatMulBackend()
            return { inputs, ctx in
                // A, B, a_scale, b_scale, a_zero_point, b_zero_point, bias
                [try contribScaledIntegerMatMul(a: try inputs.required(0), b: try inputs.required(1), aScale: try inputs.required(2),
                                                bScale: try inputs.required(3), aZero: inputs.optional(4), bZero: inputs.optional(5),
                                                bias: inputs.optional(6), op: "MatMulIntegerToFloat", backend: backend, pool: ctx.pool)]
            }
        }
        register("DynamicQuantizeMatMul", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            let backend = Int8MatMulBackend()
            return { inputs, ctx in
                // A (float), B, b_scale, b_zero_point, bias
                let q = try MathQuantization.dynamic(try inputs.required(0))
                return [try contribScaledIntegerMatMul(a: q[0], b: try inputs.required(1), aScale: q[1], bScale: try inputs.required(2),
                                                       aZero: q[2], bZero: inputs.optional(3), bias: inputs.optional(4),
                                                       op: "DynamicQuantizeMatMul", backend: backend, pool: ctx.pool)]
            }
        }
    }
}

private func contribScaledIntegerMatMul(a: Tensor, b: Tensor, aScale: Tensor, bScale: Tensor, aZero: Tensor?, bZero: Tensor?,
                                        bias: Tensor?, op: String, backend: Int8MatMulBackend, pool: ThreadPool) throws -> Tensor {
    let aS = try contribFloats(aScale, "\(op) a_scale")
    guard aS.count == 1 else { throw KernelError("\(op) a_scale must be a scalar, got \(aScale.shape)") }
    return try scaledInt8MatMul(aq: a, aScale: aS[0], aZero: aZero, b: b, bScale: bScale, bZero: bZero, bias: bias,
                                transposedB: false, op: op, backend: backend, pool: pool)
}
