import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the reduction family: Reduce*, ArgMax/ArgMin and TopK.
    mutating func registerReductionKernels() {
        ReductionFamily.registerReduce(&self)
        ReductionFamily.registerArgAndTopK(&self)
    }
}
