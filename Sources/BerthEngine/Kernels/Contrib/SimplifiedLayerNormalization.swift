import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// SimplifiedLayerNormalization (RMSNorm), which ONNX Runtime registers in the default ONNX
    /// domain (opset 1 on) although ONNX itself does not define it, and LLM exporters and ORT's
    /// optimizer write it: Y = X / √(mean(X²) + epsilon) · scale over the axes from `axis` (-1)
    /// to the end; optional second output inv_std_var ([..., 1, …]).
    mutating func registerContribSimplifiedLayerNormalization() {
        register("SimplifiedLayerNormalization", opsets: 1...Int.max) { node, _ in
            let axisAttr = try node.int("axis", default: -1)
            let epsilon = Double(try node.float("epsilon", default: 1e-5))
            return { inputs, _ in
                let x = try inputs.required(0), scale = try inputs.required(1)
                guard x.rank >= 1 else { throw KernelError("SimplifiedLayerNormalization input must have rank >= 1") }
                let axis = try TensorFamily.axis(axisAttr, rank: x.rank, "SimplifiedLayerNormalization axis")
                let inner = x.shape[axis...].reduce(1, *)
                guard inner > 0, scale.count == inner || scale.count == 1 else {
                    throw KernelError("SimplifiedLayerNormalization scale must have \(inner) elements (shape \(Array(x.shape[axis...]))), got \(scale.shape)")
                }
                let v = try contribFloats(x, "input"), s = try contribFloats(scale, "scale")
                let rows = v.count / inner
                var out = [Float](repeating: 0, count: v.count), invStd = [Float](repeating: 0, count: rows)
                for r in 0..<rows {
                    var sq = 0.0
                    for j in 0..<inner { let t = Double(v[r * inner + j]); sq += t * t }
                    let inv = 1 / (sq / Double(inner) + epsilon).squareRoot()
                    invStd[r] = Float(inv)
                    for j in 0..<inner { out[r * inner + j] = Float(Double(v[r * inner + j]) * inv) * s[s.count == 1 ? 0 : j] }
                }
                let statShape = Array(x.shape[..<axis]) + [Int](repeating: 1, count: x.rank - axis)
                return [Tensor(unchecked: x.shape, storage: .float32(out)), Tensor(unchecked: statShape, storage: .float32(invStd))]
            }
        }
    }
}
