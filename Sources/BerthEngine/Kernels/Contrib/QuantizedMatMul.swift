import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// MatMulIntegerToFloat and DynamicQuantizeMatMul, which ORT's optimizer writes for
    /// dynamically quantized models: the 8-bit product is exact in int32 (MatMulInteger), then
    /// scaled to float by a_scale · b_scale (b_scale scalar or per column) and biased.
    /// DynamicQuantizeMatMul first quantizes its float A as DynamicQuantizeLinear does.
    mutating func registerContribQuantizedMatMul() {
        register("MatMulIntegerToFloat", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            { inputs, ctx in
                // A, B, a_scale, b_scale, a_zero_point, b_zero_point, bias
                [try contribScaledIntegerMatMul(a: try inputs.required(0), b: try inputs.required(1), aScale: try inputs.required(2),
                                                bScale: try inputs.required(3), aZero: inputs.optional(4), bZero: inputs.optional(5),
                                                bias: inputs.optional(6), op: "MatMulIntegerToFloat", pool: ctx.pool)]
            }
        }
        register("DynamicQuantizeMatMul", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            { inputs, ctx in
                // A (float), B, b_scale, b_zero_point, bias
                let q = try MathQuantization.dynamic(try inputs.required(0))
                return [try contribScaledIntegerMatMul(a: q[0], b: try inputs.required(1), aScale: q[1], bScale: try inputs.required(2),
                                                       aZero: q[2], bZero: inputs.optional(3), bias: inputs.optional(4),
                                                       op: "DynamicQuantizeMatMul", pool: ctx.pool)]
            }
        }
    }
}

private func contribScaledIntegerMatMul(a: Tensor, b: Tensor, aScale: Tensor, bScale: Tensor, aZero: Tensor?, bZero: Tensor?,
                                        bias: Tensor?, op: String, pool: ThreadPool) throws -> Tensor {
    let sa = try MathIntegerMatMul.shifted(a, zeroPoint: aZero, perRow: true, op)
    let sb = try MathIntegerMatMul.shifted(b, zeroPoint: bZero, perRow: false, op)
    let product = try mathMatMul(sa, sb, pool: pool)
    guard let n = product.shape.last, n > 0 || product.count == 0 else { throw KernelError("\(op) product has no columns") }
    let aS = try contribFloats(aScale, "\(op) a_scale"), bS = try contribFloats(bScale, "\(op) b_scale")
    guard aS.count == 1 else { throw KernelError("\(op) a_scale must be a scalar, got \(aScale.shape)") }
    guard bS.count == 1 || bS.count == n else { throw KernelError("\(op) b_scale must be a scalar or [\(n)], got \(bScale.shape)") }
    let bv = try bias.map { try contribFloats($0, "\(op) bias") }
    if let bv, bv.count != n { throw KernelError("\(op) bias must be [\(n)], got \(bias!.shape)") }
    let sums = try product.values(Int32.self)
    var out = [Float](repeating: 0, count: sums.count)
    for i in out.indices {
        let col = i % n
        out[i] = Float(sums[i]) * (aS[0] * bS[bS.count == 1 ? 0 : col]) + (bv?[col] ?? 0)
    }
    return Tensor(unchecked: product.shape, storage: .float32(out))
}
