import BerthONNX

/// Removes nodes none of whose outputs is read (by a node, a subgraph or a graph output), and the
/// initializers and graph inputs nothing reads any more.
struct DeadNodeRemoval: GraphPass {
    let name = "dead node removal"

    func apply(_ graph: inout Onnx_GraphProto, _ context: PassContext) throws -> Int {
        var removed = 0
        while true {
            let reads = graph.readCounts
            let before = graph.node.count
            graph.node.removeAll { n in !n.output.contains { !$0.isEmpty && (reads[$0] ?? 0) > 0 } }
            removed += before - graph.node.count
            if graph.node.count == before { break }
        }
        let reads = graph.readCounts
        let unused = Set(graph.initializer.map(\.name).filter { (reads[$0] ?? 0) == 0 })
        graph.initializer.removeAll { unused.contains($0.name) }
        graph.input.removeAll { unused.contains($0.name) }
        return removed
    }
}
