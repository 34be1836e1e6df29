import BerthONNX

/// Removes Identity nodes and inference-mode Dropout (one output, no mask used) by renaming their
/// consumers' inputs. Precondition: the node's output is not a graph output and no subgraph reads
/// it (those names must stay).
struct IdentityElimination: OptimizerPass {
    let name = "identity-elimination"

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        let graphOutputs = Set(graph.outputs.map(\.name)).union(graph.subgraphReads)
        var rename: [String: String] = [:]
        var kept: [Node] = []
        for n in graph.nodes {
            let removable: Bool
            switch (n.domain.isEmpty || n.domain == "ai.onnx", n.opType) {
            case (true, "Identity"): removable = n.inputs.count == 1
            // Dropout is an identity at inference unless its mask is used or training_mode is fed.
            case (true, "Dropout"): removable = n.inputs.count == 1 && (n.outputs.count == 1 || n.outputs[1].isEmpty)
            default: removable = false
            }
            if removable, let out = n.outputs.first, !graphOutputs.contains(out), !n.inputs[0].isEmpty {
                rename[out] = rename[n.inputs[0]] ?? n.inputs[0]
                continue
            }
            kept.append(n)
        }
        if rename.isEmpty { return graph }
        var g = graph
        g.nodes = kept.map { n in
            var n = n
            n.inputs = n.inputs.map { rename[$0] ?? $0 }
            return n
        }
        return g
    }
}
