import BerthONNX
import BerthTensor
import Foundation

/// The Conv nodes quantization rewrites, as ONNX Runtime's quantizer does: a float weight
/// initializer of rank ≥ 3 ([M, C/group, k...]) and an optional float bias initializer [M].
/// Dynamic mode writes `DynamicQuantizeLinear → ConvInteger → Cast → Mul(x_scale · w_scale)
/// [→ Add(bias as [1, M, 1, …])]` (per-tensor weights, ORT's ConvInteger format); static mode
/// puts QuantizeLinear → DequantizeLinear on the input and a per-channel (axis 0) or per-tensor
/// DequantizeLinear on the weight, and keeps the bias in float.
struct ConvPlan {
    var activation: String
    var weight: String
    var bias: String?

    /// The Conv candidates (by node index) with their weights; the others with the reason.
    static func candidates(in graph: Onnx_GraphProto, baseDirectory: URL?) throws
        -> (plans: [Int: (ConvPlan, Tensor)], skipped: [(node: String, reason: String)]) {
        var initializers: [String: Int] = [:]
        for (i, t) in graph.initializer.enumerated() { initializers[t.name] = i }
        var plans: [Int: (ConvPlan, Tensor)] = [:], skipped: [(node: String, reason: String)] = []
        for (i, node) in graph.node.enumerated() where node.domain.isEmpty && node.opType == "Conv" {
            let label = node.name.isEmpty ? "Conv → \(node.output.first ?? "?")" : node.name
            guard node.input.count >= 2, node.output.count == 1 else { skipped.append((label, "unexpected inputs or outputs")); continue }
            guard let j = initializers[node.input[1]] else {
                skipped.append((label, "its weight '\(node.input[1])' is computed, not an initializer"))
                continue
            }
            let w: Tensor
            do { w = try Tensor(proto: graph.initializer[j], baseDirectory: baseDirectory) } catch {
                throw OptimizeError.invalidModel("initializer '\(node.input[1])': \(error)")
            }
            guard w.dtype == .float32, w.rank >= 3, w.count > 0 else {
                skipped.append((label, "its weight is \(w.dtype) \(w.shape), not a float convolution kernel"))
                continue
            }
            let bias = node.input.count > 2 && !node.input[2].isEmpty ? node.input[2] : nil
            if let bias {
                guard let k = initializers[bias], graph.initializer[k].dataType == Int32(DType.float32.rawValue),
                      graph.initializer[k].dims == [Int64(w.shape[0])] else {
                    skipped.append((label, "its bias is not a float initializer of [\(w.shape[0])]"))
                    continue
                }
            }
            plans[i] = (ConvPlan(activation: node.input[0], weight: node.input[1], bias: bias), w)
        }
        return (plans, skipped)
    }

    /// Symmetric int8 values of a Conv kernel [M, ...]: one scale, or one per output channel (axis 0).
    static func quantize(_ w: Tensor, perChannel: Bool, levels: Int = 127) -> QuantizedWeights {
        let m = w.shape[0], rest = w.count / m
        let v = w.floats
        // QuantizedWeights takes one scale per column: quantize the transpose [rest, M], transpose back.
        var t = [Float](repeating: 0, count: v.count)
        for i in 0..<m { for j in 0..<rest { t[j * m + i] = v[i * rest + j] } }
        var q = QuantizedWeights(t, rows: rest, columns: m, perChannel: perChannel, levels: levels)
        var back = [Int8](repeating: 0, count: v.count)
        for i in 0..<m { for j in 0..<rest { back[i * rest + j] = q.values[j * m + i] } }
        q.values = back
        return q
    }
}
