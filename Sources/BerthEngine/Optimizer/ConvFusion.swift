import BerthONNX

/// Fuses `Conv` with the residual `Add` that reads it and the activation after that (Relu,
/// LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid) into one FusedConv node (Berth's domain), so that
/// oneDNN applies them as post-ops while the output is still in cache: ResNet's
/// Conv → Add → Relu and MobileNet's Conv → Clip become one step.
/// Preconditions: W is a float32 initializer; each fused intermediate has exactly one reader
/// and is not a graph output. The Add's other operand must not be the Conv's own output.
struct ConvFusion: OptimizerPass {
    let name = "conv-fusion"

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        let index = GraphIndex(graph)
        var remove = Set<Int>()
        var replacements: [Int: Node] = [:]
        func taken(_ i: Int) -> Bool { remove.contains(i) || replacements[i] != nil }
        for (ci, conv) in graph.nodes.enumerated() where conv.isOp("Conv") && (2...3).contains(conv.inputs.count) {
            guard let w = graph.initializers[conv.inputs[1]], w.dtype == .float32, !taken(ci) else { continue }
            var last = ci
            var z: String?
            if let ai = index.soleConsumer(of: conv.outputs[0]), graph.nodes[ai].isOp("Add"), graph.nodes[ai].inputs.count == 2,
               !taken(ai) {
                let add = graph.nodes[ai]
                let other = add.inputs[0] == conv.outputs[0] ? add.inputs[1] : add.inputs[0]
                if other != conv.outputs[0] {
                    z = other
                    last = ai
                }
            }
            var activation: [String: Attribute] = [:]
            if let ri = index.soleConsumer(of: graph.nodes[last].outputs[0]), !taken(ri),
               let attrs = activationAttributes(graph.nodes[ri], graph) {
                activation = attrs
                remove.insert(last)
                last = ri
            }
            guard last != ci else { continue }
            var attributes = conv.attributes
            for (k, v) in activation { attributes[k] = v }
            let inputs = z.map { conv.inputs + (conv.inputs.count == 2 ? ["", $0] : [$0]) } ?? conv.inputs
            remove.insert(ci)
            remove.remove(last)
            if z != nil, let ai = index.soleConsumer(of: conv.outputs[0]), ai != last { remove.insert(ai) }
            replacements[last] = Node(name: "\(conv.name)/fused", opType: "FusedConv", domain: FusedOps.domain,
                                      inputs: inputs, outputs: graph.nodes[last].outputs, attributes: attributes)
        }
        guard !replacements.isEmpty else { return graph }
        return graph.rewritten(replacing: replacements, removing: remove)
    }

    /// FusedConv's `activation` attributes for a node Berth can fuse, or nil.
    private func activationAttributes(_ n: Node, _ g: Graph) -> [String: Attribute]? {
        func act(_ name: String, _ params: [Float] = []) -> [String: Attribute] {
            var a: [String: Attribute] = ["activation": .string(name)]
            if !params.isEmpty { a["activation_params"] = .floats(params) }
            return a
        }
        if n.isOp("Relu") { return act("Relu") }
        if n.isOp("Sigmoid") { return act("Sigmoid") }
        if n.isOp("Tanh") { return act("Tanh") }
        if n.isOp("LeakyRelu") { return (try? n.float("alpha", default: 0.01)).map { act("LeakyRelu", [$0]) } }
        if n.isOp("HardSigmoid") {
            guard let a = try? n.float("alpha", default: 0.2), let b = try? n.float("beta", default: 0.5) else { return nil }
            return act("HardSigmoid", [a, b])
        }
        if n.isOp("Clip") {
            var lo = -Float.infinity, hi = Float.infinity
            if n.inputs.count > 1 {
                // Opset 11+: min and max are inputs; only constant ones can be fused.
                for (k, name) in n.inputs.enumerated().dropFirst() where !name.isEmpty {
                    guard let v = g.scalarConstant(name), g.initializers[name]?.dtype == .float32 else { return nil }
                    if k == 1 { lo = Float(v) } else { hi = Float(v) }
                }
            } else {
                guard let l = try? n.float("min", default: -.infinity), let h = try? n.float("max", default: .infinity) else { return nil }
                lo = l
                hi = h
            }
            return act("Clip", [lo, hi])
        }
        return nil
    }
}
