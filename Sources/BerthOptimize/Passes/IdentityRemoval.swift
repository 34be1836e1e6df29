import BerthONNX
import BerthTensor

/// Removes Identity nodes and inference-mode Dropout (its mask unused): their readers read the
/// input instead. A node whose output is a graph output stays (the output keeps its name).
struct IdentityRemoval: GraphPass {
    let name = "identity and dropout removal"

    func apply(_ graph: inout Onnx_GraphProto, _ context: PassContext) throws -> Int {
        let outputs = Set(graph.output.map(\.name))
        var removed = 0
        var i = 0
        while i < graph.node.count {
            let n = graph.node[i]
            guard n.domain.isEmpty, let input = n.input.first, !input.isEmpty, let out = n.output.first, !outputs.contains(out),
                  isPassThrough(n, graph) else {
                i += 1
                continue
            }
            graph.node.remove(at: i)
            graph.renameReads(of: out, to: input)
            graph.valueInfo.removeAll { $0.name == out }
            removed += 1
        }
        return removed
    }

    private func isPassThrough(_ n: Onnx_NodeProto, _ graph: Onnx_GraphProto) -> Bool {
        switch n.opType {
        case "Identity":
            return n.output.count == 1
        case "Dropout":
            // The mask must be unused, and training_mode absent or a constant false.
            if n.output.count > 1, !n.output[1].isEmpty, (graph.readCounts[n.output[1]] ?? 0) > 0 { return false }
            if n.input.count > 2, !n.input[2].isEmpty {
                guard let t = graph.initializer(n.input[2]), let v = try? Tensor(proto: t, baseDirectory: nil), v.count == 1,
                      v.storage.double(at: 0) == 0 else { return false }
            }
            return true
        default:
            return false
        }
    }
}
