import BerthONNX

/// One prunable stretch of a graph: a layer whose output units can go (a MatMul/Gemm weight's
/// columns, a Conv's filters), the channel-wise steps after it (biases, BatchNormalization,
/// activations) and the one layer that reads those units (its weight's matching rows or input
/// channels). Removing units keeps every other tensor's shape, so the change stays local.
struct PruneChain {
    /// The producing node's name (or op → output), for reports.
    var label: String
    /// Units the producer has now.
    var units: Int
    /// Initializers sliced along an axis when units go: (name, axis).
    var slices: [(name: String, axis: Int)]
    /// The producer's weight and the axis of its units (for the importance of each unit).
    var weight: String
    var unitAxis: Int
    /// Tensors whose shape changes (their declared value_info is dropped).
    var changed: [String]
    /// The tensor the next layer reads (the units' activations) and the axis of its units.
    var activation: String = ""
    var activationAxis: Int = 0
    /// The next layer's weight and the axis of its per-unit slices (the units' outgoing weights).
    var nextWeight: String = ""
    var nextAxis: Int = 0
}

/// Finds the chains of a graph; what cannot be pruned is reported with the reason.
struct ChainFinder {
    let graph: Onnx_GraphProto
    /// Initializer shapes by name (float initializers only).
    let shapes: [String: [Int]]
    private var consumers: [String: [Int]] = [:]
    private var uses: [String: Int] = [:]
    private let outputs: Set<String>

    init(graph: Onnx_GraphProto, shapes: [String: [Int]]) {
        self.graph = graph
        self.shapes = shapes
        outputs = Set(graph.output.map(\.name))
        for (i, n) in graph.node.enumerated() {
            for input in n.input where !input.isEmpty {
                consumers[input, default: []].append(i)
                uses[input, default: 0] += 1
            }
            // A subgraph reading a tensor of this graph is a consumer nobody can rewrite safely.
            for a in n.attribute where a.hasG || !a.graphs.isEmpty {
                for g in (a.hasG ? [a.g] : []) + a.graphs { for sn in g.node { for input in sn.input { uses[input, default: 0] += 2 } } }
            }
        }
    }

    static let unaryOps: Set<String> = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "HardSigmoid", "Softplus",
                                        "Identity", "Gelu", "HardSwish", "Mish"]

    private func attr(_ n: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? { n.attribute.first { $0.name == name } }
    private func label(_ n: Onnx_NodeProto) -> String { n.name.isEmpty ? "\(n.opType) → \(n.output.first ?? "?")" : n.name }
    /// An initializer only `node` reads, once.
    private func ownInitializer(_ name: String) -> [Int]? { uses[name] == 1 ? shapes[name] : nil }

    /// The chain that starts at node `i`, or the reason there is none (nil, nil: not a producer).
    func chain(from i: Int) -> (PruneChain?, String?) {
        let p = graph.node[i]
        guard p.domain.isEmpty, p.output.count >= 1 else { return (nil, nil) }
        var slices: [(String, Int)] = []
        let units: Int, unitAxis: Int, weight: String
        // Whether the units are the last axis (dense layers) or axis 1 (NCHW convolutions).
        let channelsLast: Bool
        switch p.opType {
        case "MatMul", "Gemm":
            guard p.input.count >= 2, let w = ownInitializer(p.input[1]), w.count == 2 else { return (nil, nil) }
            if p.opType == "Gemm", (attr(p, "transA")?.i ?? 0) != 0 { return (nil, "Gemm with transA is not pruned") }
            let transB = p.opType == "Gemm" && (attr(p, "transB")?.i ?? 0) != 0
            unitAxis = transB ? 0 : 1
            units = w[unitAxis]
            weight = p.input[1]
            slices.append((weight, unitAxis))
            if p.input.count > 2, !p.input[2].isEmpty {
                guard let c = ownInitializer(p.input[2]), c.last == units, c.reduce(1, *) == units else {
                    return (nil, "its bias is not one value per unit")
                }
                slices.append((p.input[2], c.count - 1))
            }
            channelsLast = true
        case "Conv":
            guard p.input.count >= 2, let w = ownInitializer(p.input[1]), w.count >= 3 else { return (nil, nil) }
            guard (attr(p, "group")?.i ?? 1) == 1 else { return (nil, "grouped or depthwise convolutions are not pruned") }
            unitAxis = 0
            units = w[0]
            weight = p.input[1]
            slices.append((weight, 0))
            if p.input.count > 2, !p.input[2].isEmpty {
                guard let b = ownInitializer(p.input[2]), b == [units] else { return (nil, "its bias is not one value per filter") }
                slices.append((p.input[2], 0))
            }
            channelsLast = false
        default:
            return (nil, nil)
        }
        // A per-unit parameter broadcast against the layer's output: [N] or [1, N] for dense
        // layers, [N, 1, 1] / [1, N, 1, 1] for convolutions; returns the axis to slice.
        func perUnitAxis(_ shape: [Int]) -> Int? {
            guard shape.reduce(1, *) == units else { return nil }
            if channelsLast { return shape.last == units ? shape.count - 1 : nil }
            guard let k = shape.firstIndex(of: units), shape[(k + 1)...].allSatisfy({ $0 == 1 }), shape.count - k >= 2 || units == 1 else { return nil }
            return k
        }
        var t = p.output[0]
        var changed = [t]
        for _ in 0..<graph.node.count {
            guard !outputs.contains(t) else { return (nil, "its output '\(t)' is a graph output") }
            guard let next = consumers[t], next.count == 1, uses[t] == 1 else {
                return (nil, "'\(t)' is read by \(consumers[t]?.count ?? 0) nodes (channels tied by a residual Add or a Concat are not pruned)")
            }
            let q = graph.node[next[0]]
            guard q.domain.isEmpty else { return (nil, "\(q.opType) (\(q.domain)) reads its output") }
            switch q.opType {
            case "Add", "Sub", "Mul", "Div":
                guard q.input.count == 2, let other = q.input.first(where: { $0 != t }), q.input.contains(t),
                      let s = ownInitializer(other), let axis = perUnitAxis(s) else {
                    return (nil, "\(q.opType) '\(label(q))' mixes its units with another tensor (a residual connection)")
                }
                slices.append((other, axis))
            case "BatchNormalization":
                guard q.input.first == t, q.input.count == 5, q.output.count == 1 else { return (nil, "BatchNormalization in training mode") }
                for param in q.input[1...] {
                    guard let s = ownInitializer(param), s == [units] else { return (nil, "BatchNormalization parameters are not one per channel") }
                    slices.append((param, 0))
                }
            case "Clip":
                guard q.input.first == t, q.input.dropFirst().allSatisfy({ $0.isEmpty || (shapes[$0]?.reduce(1, *) ?? 0) <= 1 }) else {
                    return (nil, "Clip with per-channel bounds")
                }
            case "Dropout":
                guard q.input.first == t, q.output.count == 1 || (q.output.count > 1 && q.output[1].isEmpty) else {
                    return (nil, "Dropout whose mask is used")
                }
            case _ where Self.unaryOps.contains(q.opType):
                guard q.input.first == t else { return (nil, "\(q.opType) reads it as a parameter") }
            case "MatMul", "Gemm":
                guard channelsLast, q.input.first == t, q.input.count >= 2, let w = ownInitializer(q.input[1]), w.count == 2 else {
                    return (nil, "\(q.opType) '\(label(q))' after it has no weight matrix of its own")
                }
                if q.opType == "Gemm", (attr(q, "transA")?.i ?? 0) != 0 { return (nil, "the next Gemm has transA") }
                let transB = q.opType == "Gemm" && (attr(q, "transB")?.i ?? 0) != 0
                let axis = transB ? 1 : 0
                guard w[axis] == units else { return (nil, "the next layer's weight does not match \(units) units") }
                slices.append((q.input[1], axis))
                return (PruneChain(label: label(p), units: units, slices: slices, weight: weight, unitAxis: unitAxis, changed: changed,
                                   activation: t, activationAxis: -1, nextWeight: q.input[1], nextAxis: axis), nil)
            case "Conv":
                guard !channelsLast, q.input.first == t, q.input.count >= 2, let w = ownInitializer(q.input[1]), w.count >= 3,
                      (attr(q, "group")?.i ?? 1) == 1, w[1] == units else {
                    return (nil, "the next Conv '\(label(q))' is grouped or does not read \(units) channels")
                }
                slices.append((q.input[1], 1))
                return (PruneChain(label: label(p), units: units, slices: slices, weight: weight, unitAxis: unitAxis, changed: changed,
                                   activation: t, activationAxis: 1, nextWeight: q.input[1], nextAxis: 1), nil)
            default:
                return (nil, "\(q.opType) '\(label(q))' reads its units (only biases, BatchNormalization and activations may come between two layers)")
            }
            guard let out = q.output.first else { return (nil, "\(q.opType) has no output") }
            t = out
            changed.append(t)
        }
        return (nil, "no next layer")
    }
}
