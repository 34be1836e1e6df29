import BerthONNX
import BerthTensor
import Foundation

/// Dynamic int8 quantization in ONNX Runtime's format, written as standard ONNX: every MatMul (and
/// Gemm with alpha 1, no transA, beta 1) whose second operand is a float matrix initializer keeps
/// that matrix as symmetric int8 (``QuantizedWeights``) and becomes
///
///     DynamicQuantizeLinear(A) → A_q (uint8), A_scale, A_zero_point    (once per activation)
///     MatMulInteger(A_q, B_q, A_zero_point, B_zero_point) → int32
///     Cast(to: float) · Mul(A_scale, B_scale) [+ Add(C) for Gemm]
///
/// which ONNX Runtime and Berth both run. Activations are quantized per request, so no
/// calibration data is needed; the weights shrink 4×.
public enum DynamicQuantization {
    public struct Options: Sendable {
        /// One scale per output column instead of one per matrix.
        public var perChannel: Bool
        /// 7-bit weights ([-63, 63], ONNX Runtime's `reduce_range`): on CPUs without VNNI the
        /// engine's oneDNN int8 kernels sum u8·s8 pairs in 16 bits, exact only for such weights.
        public var reduceRange: Bool
        public init(perChannel: Bool = false, reduceRange: Bool = false) {
            self.perChannel = perChannel
            self.reduceRange = reduceRange
        }
    }

    /// What was rewritten and what was left alone (node, reason).
    public struct Result: Sendable {
        public var model: Onnx_ModelProto
        public var quantized: [String]
        public var skipped: [(node: String, reason: String)]
    }

    /// The first opset of DynamicQuantizeLinear.
    static let minimumOpset: Int64 = 11

    /// Rewrites `model`; `baseDirectory` resolves external weights. Throws when nothing is quantizable.
    public static func apply(_ model: Onnx_ModelProto, options: Options = Options(), baseDirectory: URL?) throws -> Result {
        var model = model
        let opset = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version ?? 0
        var graph = model.graph
        var taken = Set(graph.node.flatMap { $0.output } + graph.input.map(\.name) + graph.initializer.map(\.name))
        func fresh(_ base: String) -> String {
            var name = base, k = 1
            while taken.contains(name) { k += 1; name = "\(base)_\(k)" }
            taken.insert(name)
            return name
        }

        var nodes: [Onnx_NodeProto] = []
        var newInitializers: [Onnx_TensorProto] = []
        var quantizedWeights: [String: (q: String, scale: String, zero: String)] = [:]
        var quantizedActivations: [String: (q: String, scale: String, zero: String)] = [:]
        var quantized: [String] = [], skipped: [(String, String)] = []
        let found = try candidates(in: graph, baseDirectory: baseDirectory)
        let convs = try ConvPlan.candidates(in: graph, baseDirectory: baseDirectory)
        skipped = found.skipped + convs.skipped
        func activation(_ name: String) -> (q: String, scale: String, zero: String) {
            if let known = quantizedActivations[name] { return known }
            let names = (q: fresh("\(name)_quantized"), scale: fresh("\(name)_scale"), zero: fresh("\(name)_zero_point"))
            nodes.append(.make("DynamicQuantizeLinear", name: fresh("\(name)_DynamicQuantizeLinear"),
                               inputs: [name], outputs: [names.q, names.scale, names.zero]))
            quantizedActivations[name] = names
            return names
        }
        for (index, node) in graph.node.enumerated() {
            if found.plans[index] != nil || convs.plans[index] != nil {
                guard opset >= minimumOpset else {
                    throw OptimizeError.badInput("the model imports opset \(opset); dynamic quantization needs DynamicQuantizeLinear "
                        + "(opset \(minimumOpset)): convert it first (onnx.version_converter)")
                }
            }
            if let (conv, w) = convs.plans[index] {
                // ORT's ConvInteger format: per-tensor weights (ConvInteger takes one weight zero point).
                let q = ConvPlan.quantize(w, perChannel: false, levels: options.reduceRange ? 63 : 127)
                let names = (q: fresh("\(conv.weight)_quantized"), scale: fresh("\(conv.weight)_scale"), zero: fresh("\(conv.weight)_zero_point"))
                newInitializers.append(.int8(names.q, shape: w.shape, q.values))
                newInitializers.append(.float(names.scale, shape: [], q.scales))
                newInitializers.append(.int8(names.zero, shape: [], [0]))
                let aq = activation(conv.activation)
                let out = node.output[0], base = node.name.isEmpty ? out : node.name
                let sums = fresh("\(out)_int32"), asFloat = fresh("\(out)_float"), scale = fresh("\(out)_scale")
                var ci = Onnx_NodeProto.make("ConvInteger", name: fresh("\(base)_ConvInteger"), inputs: [aq.q, names.q, aq.zero, names.zero],
                                             outputs: [sums])
                ci.attribute = node.attribute
                nodes.append(ci)
                nodes.append(.cast(sums, to: .float32, output: asFloat, name: fresh("\(base)_Cast")))
                nodes.append(.make("Mul", name: fresh("\(base)_ScaleProduct"), inputs: [aq.scale, names.scale], outputs: [scale]))
                if let bias = conv.bias {
                    guard let proto = graph.initializer.first(where: { $0.name == bias }),
                          let b = try? Tensor(proto: proto, baseDirectory: baseDirectory) else {
                        throw OptimizeError.invalidModel("Conv bias '\(bias)' cannot be read")
                    }
                    // The bias as [1, M, 1, ...] so the Add broadcasts over the output (ORT reshapes it with a node).
                    let shaped = fresh("\(bias)_reshaped")
                    newInitializers.append(.float(shaped, shape: [1, w.shape[0]] + [Int](repeating: 1, count: w.rank - 2), b.floats))
                    let unbiased = fresh("\(out)_unbiased")
                    nodes.append(.make("Mul", name: fresh("\(base)_Dequantize"), inputs: [asFloat, scale], outputs: [unbiased]))
                    nodes.append(.make("Add", name: fresh("\(base)_Bias"), inputs: [unbiased, shaped], outputs: [out]))
                } else {
                    nodes.append(.make("Mul", name: fresh("\(base)_Dequantize"), inputs: [asFloat, scale], outputs: [out]))
                }
                quantized.append(node.name.isEmpty ? "Conv → \(out)" : node.name)
                continue
            }
            guard let (plan, w) = found.plans[index] else {
                nodes.append(node)
                continue
            }
            let label = node.name.isEmpty ? "\(node.opType) → \(node.output.first ?? "?")" : node.name
            // The weight as [K, N], transposed first for Gemm's transB.
            var k = w.shape[0], n = w.shape[1]
            var values = w.floats
            if plan.transposeWeight {
                var t = [Float](repeating: 0, count: values.count)
                for i in 0..<k { for j in 0..<n { t[j * k + i] = values[i * n + j] } }
                values = t
                swap(&k, &n)
            }
            let key = plan.weight + (plan.transposeWeight ? "ᵀ" : "")
            if quantizedWeights[key] == nil {
                let q = QuantizedWeights(values, rows: k, columns: n, perChannel: options.perChannel, levels: options.reduceRange ? 63 : 127)
                let names = (q: fresh("\(plan.weight)_quantized"), scale: fresh("\(plan.weight)_scale"), zero: fresh("\(plan.weight)_zero_point"))
                newInitializers.append(.int8(names.q, shape: [k, n], q.values))
                newInitializers.append(.float(names.scale, shape: q.scales.count == 1 ? [] : [n], q.scales))
                newInitializers.append(.int8(names.zero, shape: q.scales.count == 1 ? [] : [n], [Int8](repeating: 0, count: q.scales.count)))
                quantizedWeights[key] = names
            }
            let wq = quantizedWeights[key]!
            let out = node.output[0]
            let aq = activation(plan.activation)
            let base = node.name.isEmpty ? out : node.name
            let sums = fresh("\(out)_int32"), asFloat = fresh("\(out)_float"), scale = fresh("\(out)_scale")
            nodes.append(.make("MatMulInteger", name: fresh("\(base)_MatMulInteger"), inputs: [aq.q, wq.q, aq.zero, wq.zero], outputs: [sums]))
            nodes.append(.cast(sums, to: .float32, output: asFloat, name: fresh("\(base)_Cast")))
            nodes.append(.make("Mul", name: fresh("\(base)_ScaleProduct"), inputs: [aq.scale, wq.scale], outputs: [scale]))
            if let bias = plan.bias {
                let unbiased = fresh("\(out)_unbiased")
                nodes.append(.make("Mul", name: fresh("\(base)_Dequantize"), inputs: [asFloat, scale], outputs: [unbiased]))
                nodes.append(.make("Add", name: fresh("\(base)_Bias"), inputs: [unbiased, bias], outputs: [out]))
            } else {
                nodes.append(.make("Mul", name: fresh("\(base)_Dequantize"), inputs: [asFloat, scale], outputs: [out]))
            }
            quantized.append(label)
        }
        guard !quantized.isEmpty else {
            let reasons = skipped.isEmpty ? "it has no MatMul, Gemm or Conv" : skipped.map { "\($0.0): \($0.1)" }.joined(separator: "; ")
            throw OptimizeError.nothingToDo("nothing to quantize: \(reasons)")
        }
        graph.node = nodes
        graph.initializer += newInitializers
        graph = droppingUnusedInitializers(graph)
        model.graph = graph
        return Result(model: model, quantized: quantized, skipped: skipped)
    }

    /// The MatMul and Gemm nodes (by index) whose weight is a float matrix initializer, with that
    /// weight; the others with the reason they stay in float. Shared by dynamic and static modes.
    static func candidates(in graph: Onnx_GraphProto, baseDirectory: URL?) throws
        -> (plans: [Int: (GemmPlan, Tensor)], skipped: [(node: String, reason: String)]) {
        var initializers: [String: Int] = [:]
        for (i, t) in graph.initializer.enumerated() { initializers[t.name] = i }
        var plans: [Int: (GemmPlan, Tensor)] = [:], skipped: [(node: String, reason: String)] = []
        for (i, node) in graph.node.enumerated() where node.domain.isEmpty && (node.opType == "MatMul" || node.opType == "Gemm") {
            let label = node.name.isEmpty ? "\(node.opType) → \(node.output.first ?? "?")" : node.name
            switch GemmPlan.make(node) {
            case let .failure(why): skipped.append((label, why.description))
            case let .success(plan):
                guard let j = initializers[plan.weight] else {
                    skipped.append((label, "its weight '\(plan.weight)' is computed, not an initializer"))
                    continue
                }
                let w: Tensor
                do { w = try Tensor(proto: graph.initializer[j], baseDirectory: baseDirectory) } catch {
                    throw OptimizeError.invalidModel("initializer '\(plan.weight)': \(error)")
                }
                guard w.dtype == .float32, w.rank == 2, w.count > 0 else {
                    skipped.append((label, "its weight is \(w.dtype) \(w.shape), not a float matrix"))
                    continue
                }
                plans[i] = (plan, w)
            }
        }
        return (plans, skipped)
    }

    /// `graph` without the initializers no node reads any more (subgraphs included) and their inputs.
    static func droppingUnusedInitializers(_ graph: Onnx_GraphProto) -> Onnx_GraphProto {
        var graph = graph
        var used = Set(graph.output.map(\.name))
        func collect(_ g: Onnx_GraphProto) {
            for n in g.node {
                used.formUnion(n.input)
                for a in n.attribute {
                    if a.hasG { collect(a.g) }
                    for sub in a.graphs { collect(sub) }
                }
            }
        }
        collect(graph)
        let dropped = Set(graph.initializer.map(\.name).filter { !used.contains($0) })
        graph.initializer.removeAll { dropped.contains($0.name) }
        graph.input.removeAll { dropped.contains($0.name) }
        return graph
    }

    /// How one MatMul or Gemm maps onto MatMulInteger.
    struct GemmPlan {
        var activation: String
        var weight: String
        var transposeWeight: Bool
        var bias: String?

        static func make(_ node: Onnx_NodeProto) -> Swift.Result<GemmPlan, Failure> {
            guard node.input.count >= 2, node.output.count == 1 else { return .failure(.init("unexpected inputs or outputs")) }
            if node.opType == "MatMul" {
                return .success(GemmPlan(activation: node.input[0], weight: node.input[1], transposeWeight: false, bias: nil))
            }
            func attr(_ name: String) -> Onnx_AttributeProto? { node.attribute.first { $0.name == name } }
            let alpha = attr("alpha")?.f ?? 1, beta = attr("beta")?.f ?? 1
            let transA = attr("transA")?.i ?? 0, transB = attr("transB")?.i ?? 0
            guard alpha == 1, transA == 0 else { return .failure(.init("Gemm with alpha ≠ 1 or transA is left in float")) }
            let bias = node.input.count > 2 && !node.input[2].isEmpty ? node.input[2] : nil
            guard bias == nil || beta == 1 else { return .failure(.init("Gemm with beta ≠ 1 is left in float")) }
            return .success(GemmPlan(activation: node.input[0], weight: node.input[1], transposeWeight: transB != 0, bias: bias))
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}

extension Onnx_NodeProto {
    static func make(_ op: String, name: String, inputs: [String], outputs: [String]) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name
        n.input = inputs
        n.output = outputs
        return n
    }
}

extension Onnx_NodeProto {
    /// A Cast of `input` to `dtype`.
    static func cast(_ input: String, to dtype: DType, output: String, name: String) -> Onnx_NodeProto {
        var cast = Onnx_NodeProto.make("Cast", name: name, inputs: [input], outputs: [output])
        var to = Onnx_AttributeProto()
        to.name = "to"
        to.type = .int
        to.i = Int64(dtype.rawValue)
        cast.attribute = [to]
        return cast
    }
}

extension Onnx_TensorProto {
    static func int8(_ name: String, shape: [Int], _ values: [Int8]) -> Onnx_TensorProto { raw(name, .int8, shape, values) }
    static func float(_ name: String, shape: [Int], _ values: [Float]) -> Onnx_TensorProto { raw(name, .float32, shape, values) }

    /// An initializer holding `values` as little-endian raw data.
    private static func raw<T>(_ name: String, _ dtype: DType, _ shape: [Int], _ values: [T]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = Int32(dtype.rawValue)
        t.dims = shape.map(Int64.init)
        t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
        return t
    }
}
