import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the tensor family: shape manipulation, data movement and constant producers.
    mutating func registerTensorKernels() {
        TensorFamily.registerReshapeOps(&self)
        TensorFamily.registerDataMovementOps(&self)
        TensorFamily.registerConcatSplit(&self)
        TensorFamily.registerGatherOps(&self)
        TensorFamily.registerPad(&self)
        TensorFamily.registerShapeAndConstants(&self)
    }
}
