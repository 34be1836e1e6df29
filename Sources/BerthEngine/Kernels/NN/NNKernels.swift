import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the nn family: Conv, ConvTranspose, the pooling ops, Softmax/LogSoftmax and Dropout.
    mutating func registerNNKernels() {
        registerConvKernels()
        registerConvTransposeKernels()
        registerPoolingKernels()
        registerSoftmaxKernels()
        registerDropoutKernels()
    }
}
