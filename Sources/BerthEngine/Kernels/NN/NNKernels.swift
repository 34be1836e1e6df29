import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the nn family: Conv, ConvTranspose, ConvInteger, QLinearConv, the pooling ops,
    /// MaxUnpool, Softmax/LogSoftmax, Hardmax, Dropout, LRN, NonMaxSuppression, GridSample, RoiAlign,
    /// AffineGrid, MaxRoiPool and DeformConv.
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
        registerAffineGridKernels()
        registerMaxRoiPoolKernels()
        registerDeformConvKernels()
    }
}
