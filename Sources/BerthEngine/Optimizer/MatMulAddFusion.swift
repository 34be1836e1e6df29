import BerthONNX

/// Fuses `MatMul(A, W)` followed by `Add(·, b)` — W a 2-D float initializer, b a 1-D float
/// initializer of W's column count — into one MatMulBias node that seeds the output with the
/// bias and accumulates the product onto it: the separate pass over the output disappears.
/// Precondition: the MatMul result has no other reader.
struct MatMulAddFusion: OptimizerPass {
    let name = "matmul-add-fusion"

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        let index = GraphIndex(graph)
        var remove = Set<Int>()
        var replacements: [Int: Node] = [:]
        for (mi, mm) in graph.nodes.enumerated() where mm.isOp("MatMul") && mm.inputs.count == 2 {
            guard let w = graph.initializers[mm.inputs[1]], w.dtype == .float32, w.rank == 2,
                  let ai = index.soleConsumer(of: mm.outputs[0]), graph.nodes[ai].isOp("Add") else { continue }
            let add = graph.nodes[ai]
            guard add.inputs.count == 2 else { continue }
            let biasName = add.inputs[0] == mm.outputs[0] ? add.inputs[1] : add.inputs[0]
            guard let b = graph.initializers[biasName], b.dtype == .float32, b.rank == 1, b.shape[0] == w.shape[1],
                  !remove.contains(mi), !remove.contains(ai) else { continue }
            remove.insert(mi)
            replacements[ai] = Node(name: "\(mm.name)/bias", opType: "MatMulBias", domain: FusedOps.domain,
                                    inputs: [mm.inputs[0], mm.inputs[1], biasName], outputs: add.outputs)
        }
        guard !replacements.isEmpty else { return graph }
        return graph.rewritten(replacing: replacements, removing: remove)
    }
}
