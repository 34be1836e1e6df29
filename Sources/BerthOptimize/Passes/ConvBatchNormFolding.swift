import BerthONNX
import BerthTensor

/// Folds a BatchNormalization into the Conv before it (ONNX Runtime's ConvBNFusion): with
/// k = scale / sqrt(var + epsilon) per output channel, W' = W · k and B' = (B − mean) · k + bias.
/// Only when the Conv's output feeds nothing but the BatchNormalization and every parameter is a
/// float initializer; the folded weights get new names, so a weight other nodes share is left as it is.
struct ConvBatchNormFolding: GraphPass {
    let name = "Conv + BatchNormalization folding"

    func apply(_ graph: inout Onnx_GraphProto, _ context: PassContext) throws -> Int {
        var folded = 0
        var i = 0
        while i < graph.node.count {
            defer { i += 1 }
            let conv = graph.node[i]
            guard conv.domain.isEmpty, conv.opType == "Conv", conv.input.count >= 2, let c = conv.output.first else { continue }
            let reads = graph.readCounts
            guard reads[c] == 1, !graph.output.contains(where: { $0.name == c }),
                  let j = graph.node.firstIndex(where: { $0.input.first == c }) else { continue }
            let bn = graph.node[j]
            guard bn.domain.isEmpty, bn.opType == "BatchNormalization", bn.input.count == 5, bn.output.count == 1 || bn.output.dropFirst().allSatisfy(\.isEmpty),
                  (bn.attr("training_mode")?.i ?? 0) == 0 else { continue }
            func floats(_ name: String) -> (shape: [Int], values: [Float])? {
                guard let p = graph.initializer(name), let t = try? Tensor(proto: p, baseDirectory: context.baseDirectory), t.dtype == .float32 else { return nil }
                return (t.shape, t.floats)
            }
            guard let w = floats(conv.input[1]), w.shape.count >= 3 else { continue }
            let m = w.shape[0]
            guard let scale = floats(bn.input[1]), let bias = floats(bn.input[2]), let mean = floats(bn.input[3]), let variance = floats(bn.input[4]),
                  [scale, bias, mean, variance].allSatisfy({ $0.values.count == m }) else { continue }
            var b = [Float](repeating: 0, count: m)
            if conv.input.count > 2, !conv.input[2].isEmpty {
                guard let given = floats(conv.input[2]), given.values.count == m else { continue }
                b = given.values
            }
            let epsilon = bn.attr("epsilon").map { Double($0.f) } ?? 1e-5
            let k = (0..<m).map { Double(scale.values[$0]) / (Double(variance.values[$0]) + epsilon).squareRoot() }
            let per = w.values.count / m
            var w2 = w.values
            for o in 0..<m { for q in 0..<per { w2[o * per + q] = Float(Double(w.values[o * per + q]) * k[o]) } }
            let b2 = (0..<m).map { Float((Double(b[$0]) - Double(mean.values[$0])) * k[$0] + Double(bias.values[$0])) }
            let wName = context.fresh("\(conv.input[1])_bn_folded"), bName = context.fresh("\(bn.output[0])_bias_folded")
            graph.initializer.append(.float(wName, shape: w.shape, w2))
            graph.initializer.append(.float(bName, shape: [m], b2))
            var fused = conv
            fused.input = [conv.input[0], wName, bName]
            fused.output = [bn.output[0]]
            graph.node[i] = fused
            graph.node.remove(at: j)
            graph.valueInfo.removeAll { $0.name == c }
            folded += 1
        }
        return folded
    }
}
