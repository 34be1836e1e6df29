import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the tensor family: shape manipulation, data movement (including Resize, the
    /// scatters, DepthToSpace/SpaceToDepth, Compress, NonZero, Unique, CenterCropPad, Col2Im ...)
    /// and constant producers.
    mutating func registerTensorKernels() {
        TensorFamily.registerReshapeOps(&self)
        TensorFamily.registerDataMovementOps(&self)
        TensorFamily.registerConcatSplit(&self)
        TensorFamily.registerGatherOps(&self)
        TensorFamily.registerPad(&self)
        TensorFamily.registerResize(&self)
        TensorFamily.registerScatter(&self)
        TensorFamily.registerSpaceDepth(&self)
        TensorFamily.registerTrilu(&self)
        TensorFamily.registerEyeLike(&self)
        TensorFamily.registerCompress(&self)
        TensorFamily.registerNonZero(&self)
        TensorFamily.registerReverseSequence(&self)
        TensorFamily.registerOneHot(&self)
        TensorFamily.registerUnique(&self)
        TensorFamily.registerShapeAndConstants(&self)
        TensorFamily.registerCenterCropPad(&self)
        TensorFamily.registerCol2Im(&self)
    }
}
