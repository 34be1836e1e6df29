import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the elementwise family: unary math, activations, Clip, Cast/CastLike, PRelu, Shrink,
    /// the float predicates (IsNaN, IsInf), Not and Identity.
    mutating func registerElementwiseKernels() {
        registerElementwiseMath()
        registerElementwiseActivations()
        registerElementwiseClip()
        registerElementwiseCast()
        registerElementwisePRelu()
        registerElementwiseShrink()
    }
}
