import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// com.microsoft ops that older exporters wrote before ONNX had an equivalent, run by the
    /// standard kernel of the ONNX op they became: Trilu (ai.onnx Trilu 14), GridSample
    /// (GridSample 16, same mode names), GatherND (GatherND 11, no batch_dims), Range
    /// (Range 11, delta defaulting to 1) and ExpandDims (Unsqueeze of one axis given as an input).
    mutating func registerContribAliases() {
        func delegate(_ op: String, to onnxOp: String, opset: Int) {
            let standard = factory(domain: "", op: onnxOp, opset: opset)
            register(op, domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
                guard let standard else { throw KernelError("no \(onnxOp) kernel registered") }
                var n = node
                n.domain = ""
                n.opType = onnxOp
                return try standard(n, opset)
            }
        }
        delegate("Trilu", to: "Trilu", opset: 14)
        delegate("GridSample", to: "GridSample", opset: 16)
        delegate("GatherND", to: "GatherND", opset: 11)
        let range = factory(domain: "", op: "Range", opset: 11)
        register("Range", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            guard let range else { throw KernelError("no Range kernel registered") }
            var n = node
            n.domain = ""
            let kernel = try range(n, 11)
            return { inputs, ctx in
                let start = try inputs.required(0)
                // delta is optional here (1 in start's type).
                let delta = try inputs.optional(2) ?? {
                    guard let one = start.dtype.withNumericType({ contribOne($0) }) else { throw KernelError("Range does not support \(start.dtype)") }
                    return Tensor(unchecked: [], storage: one)
                }()
                return try kernel([start, try inputs.required(1), delta], ctx)
            }
        }
        register("ExpandDims", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            { inputs, _ in
                let x = try inputs.required(0), axisT = try inputs.required(1)
                guard axisT.count == 1, axisT.dtype == .int32 || axisT.dtype == .int64 else {
                    throw KernelError("ExpandDims axis must be an int32 scalar, got \(axisT.dtype)\(axisT.shape)")
                }
                let axis = try TensorFamily.axis(try axisT.integers()[0], rank: x.rank + 1, "ExpandDims axis")
                var shape = x.shape
                shape.insert(1, at: axis)
                return [try x.reshaped(shape)]
            }
        }
    }
}

private func contribOne<T: NumericElement>(_: T.Type) -> TensorStorage {
    T.storage([T(fromDouble: 1)])
}
