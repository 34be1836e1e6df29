import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the recurrent family: LSTM, GRU and RNN. Opset 14 added `layout` (batch-first
    /// tensors); before 7 the ops had another signature and are not registered.
    mutating func registerRNNKernels() {
        register("LSTM", opsets: 7...Int.max) { node, opset in try rnnLSTM(node, opset: opset) }
        register("GRU", opsets: 7...Int.max) { node, opset in try rnnGRU(node, opset: opset) }
        register("RNN", opsets: 7...Int.max) { node, opset in try rnnSimple(node, opset: opset) }
    }
}
