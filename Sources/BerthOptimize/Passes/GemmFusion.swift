import BerthONNX
import BerthTensor

/// MatMul(A, W) + C → Gemm(A, W, C) where A is known to be a matrix (rank 2), W a 2-D
/// initializer and C a per-column initializer ([N] or [1, N]) read only by that Add: one op,
/// and the bias add happens inside the product, as ONNX Runtime's MatMulAddFusion does.
struct GemmFusion: GraphPass {
    let name = "MatMul + Add → Gemm"

    func apply(_ graph: inout Onnx_GraphProto, _ context: PassContext) throws -> Int {
        var ranks = knownRanks(graph)
        var fused = 0
        var i = 0
        while i < graph.node.count {
            defer { i += 1 }
            let mm = graph.node[i]
            guard mm.domain.isEmpty, mm.opType == "MatMul", mm.input.count == 2, let m = mm.output.first,
                  ranks[mm.input[0]] == 2, let w = graph.initializer(mm.input[1]), w.dims.count == 2,
                  w.dataType == Int32(DType.float32.rawValue) else { continue }
            let reads = graph.readCounts
            guard reads[m] == 1, !graph.output.contains(where: { $0.name == m }),
                  let j = graph.node.firstIndex(where: { $0.opType == "Add" && $0.domain.isEmpty && $0.input.contains(m) }) else { continue }
            let add = graph.node[j]
            guard add.input.count == 2, let other = add.input.first(where: { $0 != m }), let c = graph.initializer(other),
                  reads[other] == 1, c.dataType == w.dataType, c.dims.last == w.dims[1], c.dims.reduce(1, *) == w.dims[1],
                  c.dims.count <= 2 else { continue }
            var gemm = Onnx_NodeProto.make("Gemm", name: context.fresh(mm.name.isEmpty ? "Gemm" : "\(mm.name)_gemm"),
                                           inputs: [mm.input[0], mm.input[1], other], outputs: add.output)
            gemm.domain = ""
            graph.node[i] = gemm
            graph.node.remove(at: j)
            graph.valueInfo.removeAll { $0.name == m }
            ranks[add.output[0]] = 2
            fused += 1
        }
        return fused
    }

    /// Ranks known from declarations (graph inputs, value_info, initializers), carried through
    /// rank-keeping ops and 2-D products; a fixed point over the node list (ONNX lists nodes in order).
    func knownRanks(_ graph: Onnx_GraphProto) -> [String: Int] {
        var ranks: [String: Int] = [:]
        for v in graph.input + graph.valueInfo + graph.output {
            if case let .tensorType(t)? = v.type.value, t.hasShape { ranks[v.name] = t.shape.dim.count }
        }
        for t in graph.initializer { ranks[t.name] = t.dims.count }
        let keep: Set<String> = ["Cast", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Identity", "Dropout",
                                 "Abs", "Neg", "Exp", "Log", "Sqrt", "Erf", "Elu", "Selu", "HardSigmoid", "Softplus", "Clip", "Gelu"]
        for n in graph.node where n.domain.isEmpty {
            guard let out = n.output.first, ranks[out] == nil else { continue }
            if keep.contains(n.opType), let r = n.input.first.flatMap({ ranks[$0] }) { ranks[out] = r }
            if n.opType == "Gemm" { ranks[out] = 2 }
            if n.opType == "MatMul", n.input.count == 2, ranks[n.input[0]] == 2, ranks[n.input[1]] == 2 { ranks[out] = 2 }
            if ["Add", "Sub", "Mul", "Div"].contains(n.opType), n.input.count == 2,
               let a = ranks[n.input[0]], let b = ranks[n.input[1]] { ranks[out] = max(a, b) }
        }
        return ranks
    }
}
