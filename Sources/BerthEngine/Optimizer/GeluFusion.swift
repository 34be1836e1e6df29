import BerthONNX

/// Fuses the exact-GELU subgraph exporters emit, `x * 0.5 * (1 + Erf(x / sqrt 2))` (in its two
/// common orders, with Div by sqrt 2 or Mul by 1/sqrt 2), into one Gelu node: five passes over
/// the FFN activation become one. Precondition: the intermediate values have no other readers.
struct GeluFusion: OptimizerPass {
    let name = "gelu-fusion"

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        let index = GraphIndex(graph)
        var remove = Set<Int>()
        var replacements: [Int: Node] = [:]
        func near(_ v: Double?, _ want: Double) -> Bool { v.map { abs($0 - want) < 1e-4 } ?? false }
        func other(_ n: Node, _ v: String) -> String? {
            guard n.inputs.count == 2 else { return nil }
            return n.inputs[0] == v ? n.inputs[1] : n.inputs[1] == v ? n.inputs[0] : nil
        }

        for (ei, erf) in graph.nodes.enumerated() where erf.isOp("Erf") {
            // x / sqrt(2) or x * (1/sqrt(2))
            guard let di = index.producer[erf.inputs[0]], index.soleConsumer(of: erf.inputs[0]) == ei else { continue }
            let div = graph.nodes[di]
            let x: String
            if div.isOp("Div"), div.inputs.count == 2, near(graph.scalarConstant(div.inputs[1]), 2.0.squareRoot()) {
                x = div.inputs[0]
            } else if div.isOp("Mul"), let c = div.inputs.first(where: { near(graph.scalarConstant($0), 0.5.squareRoot()) }), let o = other(div, c) {
                x = o
            } else { continue }
            // 1 + erf
            guard let ai = index.soleConsumer(of: erf.outputs[0]), graph.nodes[ai].isOp("Add"),
                  let one = other(graph.nodes[ai], erf.outputs[0]), near(graph.scalarConstant(one), 1) else { continue }
            let add = graph.nodes[ai]
            guard let m1i = index.soleConsumer(of: add.outputs[0]), graph.nodes[m1i].isOp("Mul") else { continue }
            let m1 = graph.nodes[m1i]
            guard let m1Other = other(m1, add.outputs[0]) else { continue }
            var chain = [di, ei, ai, m1i]
            let output: String
            if m1Other == x {
                // (x * (1 + erf)) * 0.5
                guard let m2i = index.soleConsumer(of: m1.outputs[0]), graph.nodes[m2i].isOp("Mul"),
                      let half = other(graph.nodes[m2i], m1.outputs[0]), near(graph.scalarConstant(half), 0.5) else { continue }
                chain.append(m2i)
                output = graph.nodes[m2i].outputs[0]
            } else if let hi = index.producer[m1Other], graph.nodes[hi].isOp("Mul"), index.soleConsumer(of: m1Other) == m1i,
                      let half = other(graph.nodes[hi], x), near(graph.scalarConstant(half), 0.5) {
                // (x * 0.5) * (1 + erf)
                chain.append(hi)
                output = m1.outputs[0]
            } else { continue }
            guard chain.allSatisfy({ !remove.contains($0) }) else { continue }
            remove.formUnion(chain)
            let last = chain.max()!
            replacements[last] = Node(name: "\(erf.name)/gelu", opType: "Gelu", domain: FusedOps.domain, inputs: [x], outputs: [output])
        }
        guard !replacements.isEmpty else { return graph }
        return graph.rewritten(replacing: replacements, removing: remove)
    }
}
