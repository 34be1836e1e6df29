import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the control-flow family: If, Loop and Scan, whose nodes carry subgraphs that
    /// the execution plan compiles once (see ``SubgraphCompiler``). Their semantics for tensor
    /// values are the same in every opset (later opsets only widened the allowed types), so one
    /// kernel serves each range; Scan 8 (batched, with sequence_lens) differs from Scan 9+.
    mutating func registerControlFlowKernels() {
        register("If", opsets: 1...Int.max) { node, _, subgraphs in try controlFlowIf(node, subgraphs: subgraphs) }
        register("Loop", opsets: 1...Int.max) { node, _, subgraphs in try controlFlowLoop(node, subgraphs: subgraphs) }
        register("Scan", opsets: 8...8) { node, _, subgraphs in try controlFlowScan8(node, subgraphs: subgraphs) }
        register("Scan", opsets: 9...Int.max) { node, opset, subgraphs in try controlFlowScan(node, opset: opset, subgraphs: subgraphs) }
    }
}
