import BerthONNX
import BerthTensor

/// Turns each per-tensor QuantizeLinear → DequantizeLinear pair that no fused int8 kernel took
/// (QDQ files put them around MaxPool, Add, GlobalAveragePool, Flatten …) into one float-to-float
/// `FakeQuantize` node: `(clamp(round(x / s) + z) − z) · s`, what the two nodes compute, in one
/// pass and without the 8-bit tensor between them. A FakeQuantize keeps the layout of its input,
/// so it runs inside blocked-layout regions and no longer splits them.
///
/// Preconditions: the QuantizeLinear's scale is a scalar float initializer and its zero point
/// absent or a scalar int8 / uint8 initializer (no output_dtype, no blocks); every reader of its
/// output is a DequantizeLinear with the same scale and zero point, and the 8-bit value is not a
/// graph output. Runs after ``QuantizedMatMulFusion`` and ``QuantizedConvFusion`` (which take the
/// pairs in front of their MatMuls and convolutions).
struct QDQPairFusion: OptimizerPass {
    let name = "qdq-pair-fusion"

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        let index = GraphIndex(graph)
        var replacements: [Int: Node] = [:]
        var remove = Set<Int>()
        for (qi, q) in graph.nodes.enumerated() where q.isOp("QuantizeLinear") {
            guard q.inputs.count >= 2, q.outputs.count == 1, let out = q.outputs.first, !out.isEmpty, !index.graphOutputs.contains(out),
                  (try? q.int("output_dtype", default: 0)) == 0, (try? q.int("block_size", default: 0)) == 0,
                  let s = graph.initializers[q.inputs[1]], s.dtype == .float32, s.count == 1 else { continue }
            let zero = q.inputs.count > 2 ? q.inputs[2] : ""
            if !zero.isEmpty {
                guard let z = graph.initializers[zero], z.count == 1, z.dtype == .uint8 || z.dtype == .int8 else { continue }
            }
            let readers = index.consumers[out] ?? []
            guard !readers.isEmpty, readers.allSatisfy({ r in
                let d = graph.nodes[r]
                return d.isOp("DequantizeLinear") && d.inputs.count >= 2 && d.inputs[0] == out && !d.outerScopeReads.contains(out)
                    && d.outputs.count == 1 && !d.outputs[0].isEmpty && (try? d.int("block_size", default: 0)) == 0
                    && sameValue(d.inputs[1], q.inputs[1], graph) && sameValue(d.inputs.count > 2 ? d.inputs[2] : "", zero, graph)
            }) else { continue }
            for r in Set(readers) {
                let d = graph.nodes[r]
                replacements[r] = Node(name: "\(d.name)/fake_quantize", opType: "FakeQuantize", domain: FusedOps.domain,
                                       inputs: [q.inputs[0], q.inputs[1], zero], outputs: d.outputs, attributes: [:])
            }
            remove.insert(qi)
        }
        guard !replacements.isEmpty else { return graph }
        var g = graph
        g.nodes = graph.nodes.indices.compactMap { i in remove.contains(i) ? nil : (replacements[i] ?? graph.nodes[i]) }
        return g
    }
}
