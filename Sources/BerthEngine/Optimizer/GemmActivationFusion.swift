import BerthONNX
import Foundation

/// Fuses `Gemm → Relu` into one `GemmRelu` node (ORT's FusedGemm does the same): the Relu runs in
/// the product's registers, and the run loop has one step, one output tensor and one pass over it
/// fewer (the MLP has two such pairs, the MNIST CNN one). `BERTH_GEMM_RELU=0` keeps them apart.
/// Preconditions: the Gemm's B is a float32 initializer (so the product is float32); its output
/// has no other reader and is not a graph output.
struct GemmActivationFusion: OptimizerPass {
    let name = "gemm-activation-fusion"

    static let enabled = ProcessInfo.processInfo.environment["BERTH_GEMM_RELU"] != "0"

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        guard Self.enabled else { return graph }
        let index = GraphIndex(graph)
        var remove = Set<Int>()
        var replacements: [Int: Node] = [:]
        for (gi, gemm) in graph.nodes.enumerated() where gemm.isOp("Gemm") && gemm.outputs.count == 1 && gemm.inputs.count >= 2 {
            guard let w = graph.initializers[gemm.inputs[1]], w.dtype == .float32,
                  let ri = index.soleConsumer(of: gemm.outputs[0]), !remove.contains(ri) else { continue }
            let relu = graph.nodes[ri]
            guard relu.isOp("Relu"), relu.inputs == [gemm.outputs[0]], relu.outputs.count == 1 else { continue }
            var fused = gemm
            fused.name = "\(gemm.name)/relu"
            fused.opType = "GemmRelu"
            fused.domain = FusedOps.domain
            fused.outputs = relu.outputs
            replacements[gi] = fused
            remove.insert(ri)
        }
        guard !replacements.isEmpty else { return graph }
        return graph.rewritten(replacing: replacements, removing: remove)
    }
}
