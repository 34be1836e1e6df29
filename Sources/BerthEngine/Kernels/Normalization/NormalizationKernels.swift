import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the normalization family: BatchNormalization, InstanceNormalization,
    /// LayerNormalization, LpNormalization and MeanVarianceNormalization.
    mutating func registerNormalizationKernels() {
        registerBatchNormalizationKernels()
        registerLayerNormalizationKernels()
        registerLpAndMeanVarianceKernels()
        registerGroupNormalizationKernels()
    }
}
