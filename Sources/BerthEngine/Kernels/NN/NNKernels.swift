import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the nn family: Conv, ConvTranspose, ConvInteger, QLinearConv, the pooling ops,
    /// MaxUnpool, Softmax/LogSoftmax, Dropout and LRN.
    mutating func registerNNKernels() {
        registerConvKernels()
        registerConvTransposeKernels()
        registerQuantizedConvKernels()
        registerPoolingKernels()
        registerSoftmaxKernels()
        registerHardmaxKernels()
        registerNonMaxSuppressionKernels()
        registerGridSampleKernels()
        registerRoiAlignKernels()
        registerDropoutKernels()
        registerLRNKernels()
        registerMaxUnpoolKernels()
    }
}
