import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the nn family: Conv, the pooling ops, Softmax/LogSoftmax and Dropout.
    mutating func registerNNKernels() {
        registerConvKernels()
        registerPoolingKernels()
        registerSoftmaxKernels()
        registerDropoutKernels()
    }
}
