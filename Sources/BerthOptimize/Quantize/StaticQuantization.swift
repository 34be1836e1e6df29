import BerthONNX
import BerthTensor
import Foundation

/// Static int8 quantization in the QDQ format ONNX Runtime writes (`QuantFormat.QDQ`, signed int8
/// activations and weights): each MatMul / Gemm with a float matrix weight reads its activation
/// through QuantizeLinear → DequantizeLinear with a scale and zero point calibrated on sample data
/// (``Calibration``), and its weight as a symmetric int8 initializer through DequantizeLinear (per
/// tensor, or per output channel with `axis`). Runtimes that fuse QDQ (ONNX Runtime) run int8
/// kernels; any runtime gets the same numbers by running the Q/DQ ops as written.
public enum StaticQuantization {
    public struct Options: Sendable {
        public var perChannel: Bool
        public var method: Calibration.Method
        /// 7-bit weights ([-63, 63], ONNX Runtime's `reduce_range`) for CPUs without VNNI, whose
        /// u8×s8 multiply-adds can saturate with full-range weights.
        public var reduceRange: Bool
        public init(perChannel: Bool = false, method: Calibration.Method = .minmax, reduceRange: Bool = false) {
            self.perChannel = perChannel
            self.method = method
            self.reduceRange = reduceRange
        }
    }

    /// Rewrites `model`, calibrating on `data` (rows of its first input).
    public static func apply(_ model: Onnx_ModelProto, calibration data: Tensor, options: Options = Options(),
                             baseDirectory: URL?) throws -> DynamicQuantization.Result {
        let opset = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version ?? 0
        var graph = model.graph
        let found = try DynamicQuantization.candidates(in: graph, baseDirectory: baseDirectory)
        let plans = found.plans.keys.sorted().map { (index: $0, plan: found.plans[$0]!.0, weight: found.plans[$0]!.1) }
        let convs = try ConvPlan.candidates(in: graph, baseDirectory: baseDirectory)
        var skipped = found.skipped + convs.skipped
        guard !plans.isEmpty || !convs.plans.isEmpty else {
            let reasons = skipped.isEmpty ? "it has no MatMul, Gemm or Conv" : skipped.map { "\($0.node): \($0.reason)" }.joined(separator: "; ")
            throw OptimizeError.nothingToDo("nothing to quantize: \(reasons)")
        }
        // Per-axis DequantizeLinear arrived in opset 13.
        let needed: Int64 = options.perChannel ? 13 : 10
        guard opset >= needed else {
            throw OptimizeError.badInput("the model imports opset \(opset); QDQ quantization\(options.perChannel ? " per channel" : "") needs opset \(needed): convert it first")
        }
        let activations = Array(Set(plans.map(\.plan.activation) + convs.plans.values.map(\.0.activation))).sorted()
        let ranges = try Calibration.ranges(of: activations, model: model, data: data, method: options.method, baseDirectory: baseDirectory)

        var taken = Set(graph.node.flatMap { $0.output } + graph.input.map(\.name) + graph.initializer.map(\.name))
        func fresh(_ base: String) -> String {
            var name = base, k = 1
            while taken.contains(name) { k += 1; name = "\(base)_\(k)" }
            taken.insert(name)
            return name
        }
        var before: [Int: [Onnx_NodeProto]] = [:]  // nodes inserted ahead of node i
        var newInitializers: [Onnx_TensorProto] = []
        var dequantizedActivation: [String: String] = [:]
        var dequantizedWeight: [String: String] = [:]
        var quantized: [String] = []
        let (qmin, qmax): (Float, Float) = (-128, 127)
        func dequantize(activation: String, range: (min: Float, max: Float), before index: Int) {
            if dequantizedActivation[activation] == nil {
                // Asymmetric int8 over a range that contains 0, so 0 is exact; a floor on the scale, as
                // ONNX Runtime keeps one: a range of (almost) nothing must not divide by zero.
                let lo = min(0, range.min), hi = max(0, range.max)
                let scale = max((hi - lo) / (qmax - qmin), Float.ulpOfOne)
                let zero = Int8(max(qmin, min(qmax, (qmin - lo / scale).rounded(.toNearestOrEven))))
                let s = fresh("\(activation)_scale"), z = fresh("\(activation)_zero_point")
                let q = fresh("\(activation)_QuantizeLinear"), dq = fresh("\(activation)_DequantizeLinear")
                newInitializers.append(.float(s, shape: [], [scale]))
                newInitializers.append(.int8(z, shape: [], [zero]))
                before[index, default: []].append(.make("QuantizeLinear", name: fresh("\(activation)_Q"), inputs: [activation, s, z], outputs: [q]))
                before[index, default: []].append(.make("DequantizeLinear", name: fresh("\(activation)_DQ"), inputs: [q, s, z], outputs: [dq]))
                dequantizedActivation[activation] = dq
            }
        }
        for index in convs.plans.keys.sorted() {
            let (plan, w) = convs.plans[index]!
            let node = graph.node[index]
            let label = node.name.isEmpty ? "Conv → \(node.output.first ?? "?")" : node.name
            guard let range = ranges[plan.activation] else {
                skipped.append((label, "its input '\(plan.activation)' is not a float the calibration run produced"))
                continue
            }
            dequantize(activation: plan.activation, range: range, before: index)
            if dequantizedWeight[plan.weight] == nil {
                // Per output channel (axis 0) with --per-channel, as ORT's QDQ Conv.
                let qw = ConvPlan.quantize(w, perChannel: options.perChannel, levels: options.reduceRange ? 63 : 127)
                let qn = fresh("\(plan.weight)_quantized"), s = fresh("\(plan.weight)_scale"), z = fresh("\(plan.weight)_zero_point")
                let dq = fresh("\(plan.weight)_DequantizeLinear")
                let perAxis = qw.scales.count > 1
                newInitializers.append(.int8(qn, shape: w.shape, qw.values))
                newInitializers.append(.float(s, shape: perAxis ? [qw.scales.count] : [], qw.scales))
                newInitializers.append(.int8(z, shape: perAxis ? [qw.scales.count] : [], [Int8](repeating: 0, count: qw.scales.count)))
                var d = Onnx_NodeProto.make("DequantizeLinear", name: fresh("\(plan.weight)_DQ"), inputs: [qn, s, z], outputs: [dq])
                if perAxis {
                    var axis = Onnx_AttributeProto()
                    axis.name = "axis"
                    axis.type = .int
                    axis.i = 0
                    d.attribute = [axis]
                }
                before[index, default: []].append(d)
                dequantizedWeight[plan.weight] = dq
            }
            graph.node[index].input[0] = dequantizedActivation[plan.activation]!
            graph.node[index].input[1] = dequantizedWeight[plan.weight]!
            quantized.append(label)
        }
        for (index, plan, w) in plans {
            let node = graph.node[index]
            let label = node.name.isEmpty ? "\(node.opType) → \(node.output.first ?? "?")" : node.name
            guard let range = ranges[plan.activation] else {
                skipped.append((label, "its input '\(plan.activation)' is not a float the calibration run produced"))
                continue
            }
            dequantize(activation: plan.activation, range: range, before: index)
            if dequantizedWeight[plan.weight] == nil {
                // Weights keep their stored layout ([K, N] for MatMul, [N, K] for Gemm with transB):
                // the output channel is axis 1 or 0.
                let k = w.shape[0], n = w.shape[1]
                var values = w.floats
                let channelAxis = plan.transposeWeight ? 0 : 1
                if plan.transposeWeight {  // quantize per row: transpose, quantize per column, transpose back
                    var t = [Float](repeating: 0, count: values.count)
                    for i in 0..<k { for j in 0..<n { t[j * k + i] = values[i * n + j] } }
                    values = t
                }
                let qw = QuantizedWeights(values, rows: plan.transposeWeight ? n : k, columns: plan.transposeWeight ? k : n,
                                          perChannel: options.perChannel, levels: options.reduceRange ? 63 : 127)
                var stored = qw.values
                if plan.transposeWeight {
                    var t = [Int8](repeating: 0, count: stored.count)
                    for i in 0..<n { for j in 0..<k { t[j * n + i] = stored[i * k + j] } }
                    stored = t
                }
                let qn = fresh("\(plan.weight)_quantized"), s = fresh("\(plan.weight)_scale"), z = fresh("\(plan.weight)_zero_point")
                let dq = fresh("\(plan.weight)_DequantizeLinear")
                newInitializers.append(.int8(qn, shape: [k, n], stored))
                newInitializers.append(.float(s, shape: qw.scales.count == 1 ? [] : [qw.scales.count], qw.scales))
                newInitializers.append(.int8(z, shape: qw.scales.count == 1 ? [] : [qw.scales.count], [Int8](repeating: 0, count: qw.scales.count)))
                var d = Onnx_NodeProto.make("DequantizeLinear", name: fresh("\(plan.weight)_DQ"), inputs: [qn, s, z], outputs: [dq])
                if qw.scales.count > 1 {
                    var axis = Onnx_AttributeProto()
                    axis.name = "axis"
                    axis.type = .int
                    axis.i = Int64(channelAxis)
                    d.attribute = [axis]
                }
                before[index, default: []].append(d)
                dequantizedWeight[plan.weight] = dq
            }
            graph.node[index].input[0] = dequantizedActivation[plan.activation]!
            graph.node[index].input[1] = dequantizedWeight[plan.weight]!
            quantized.append(label)
        }
        guard !quantized.isEmpty else {
            throw OptimizeError.nothingToDo("nothing to quantize: " + skipped.map { "\($0.node): \($0.reason)" }.joined(separator: "; "))
        }
        var nodes: [Onnx_NodeProto] = []
        for (i, node) in graph.node.enumerated() {
            nodes += before[i] ?? []
            nodes.append(node)
        }
        graph.node = nodes
        graph.initializer += newInitializers
        var result = model
        result.graph = graph
        result.graph = DynamicQuantization.droppingUnusedInitializers(result.graph)
        return DynamicQuantization.Result(model: result, quantized: quantized, skipped: skipped)
    }
}
