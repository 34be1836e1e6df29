import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the control-flow family: If, Loop and Scan, whose nodes carry subgraphs that
    /// the execution plan compiles once (see ``SubgraphCompiler``). Their semantics are the same
    /// in every opset (later opsets only widened the allowed types: If and Loop carry sequences
    /// and optionals from 13 and 16), so one kernel serves each range; Scan 8 (batched, with
    /// sequence_lens) differs from Scan 9+, and Scan carries tensors only.
    mutating func registerControlFlowKernels() {
        register("If", opsets: 1...Int.max) { node, _, subgraphs in try controlFlowIf(node, subgraphs: subgraphs) }
        register("Loop", opsets: 1...Int.max) { node, _, subgraphs in try controlFlowLoop(node, subgraphs: subgraphs) }
        register("Scan", opsets: 8...8) { node, _, subgraphs in valueKernel(try controlFlowScan8(node, subgraphs: subgraphs)) }
        register("Scan", opsets: 9...Int.max) { node, opset, subgraphs in
            valueKernel(try controlFlowScan(node, opset: opset, subgraphs: subgraphs))
        }
    }
}

/// A tensor kernel run as a value kernel: every input must be a tensor (or absent).
func valueKernel(_ kernel: @escaping Kernel) -> ValueKernel {
    { inputs, ctx in
        let tensors = try inputs.indices.map { try inputs.optionalTensor($0) }
        return try kernel(tensors, ctx).map(Value.tensor)
    }
}
