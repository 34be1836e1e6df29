import BerthONNX

/// Absorbs a fused exact GELU (from GeluFusion) into the product before it: `MatMulBias → Gelu`
/// becomes MatMulBias with `activation = "gelu"`, and `QuantizedMatMul → Gelu` gets `gelu = 1`.
/// oneDNN applies it as an eltwise post-op while the output tile is in registers, as ORT's
/// BiasGelu fusion does for its kernels: the separate pass over the FFN's widest activation
/// (a fifth of a BERT-mini run at batch 32) disappears.
/// Preconditions: the product's output has no other reader; it carries no activation yet.
struct MatMulActivationFusion: OptimizerPass {
    let name = "matmul-activation-fusion"

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        let index = GraphIndex(graph)
        var remove = Set<Int>()
        var replacements: [Int: Node] = [:]
        for (mi, mm) in graph.nodes.enumerated() where mm.domain == FusedOps.domain && mm.outputs.count == 1 {
            let isBias = mm.opType == "MatMulBias" && mm.attributes["activation"] == nil
            let isQuantized = mm.opType == "QuantizedMatMul" && (try? mm.int("relu", default: 0)) == 0 && mm.attributes["gelu"] == nil
            guard isBias || isQuantized, let gi = index.soleConsumer(of: mm.outputs[0]), !remove.contains(gi) else { continue }
            let g = graph.nodes[gi]
            guard g.opType == "Gelu", g.domain == FusedOps.domain, g.inputs == [mm.outputs[0]], g.outputs.count == 1 else { continue }
            var fused = mm
            fused.name = "\(mm.name)/gelu"
            fused.outputs = g.outputs
            if isBias { fused.attributes["activation"] = .string("gelu") } else { fused.attributes["gelu"] = .int(1) }
            replacements[mi] = fused
            remove.insert(gi)
        }
        guard !replacements.isEmpty else { return graph }
        return graph.rewritten(replacing: replacements, removing: remove)
    }
}
