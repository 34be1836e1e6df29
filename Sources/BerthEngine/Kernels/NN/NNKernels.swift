import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the nn family: Conv, ConvTranspose, the pooling ops, MaxUnpool, Softmax/LogSoftmax,
    /// Dropout and LRN.
    mutating func registerNNKernels() {
        registerConvKernels()
        registerConvTransposeKernels()
        registerPoolingKernels()
        registerSoftmaxKernels()
        registerDropoutKernels()
        registerLRNKernels()
        registerMaxUnpoolKernels()
    }
}
