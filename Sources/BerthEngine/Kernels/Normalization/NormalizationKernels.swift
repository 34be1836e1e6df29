import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the normalization family: BatchNormalization, InstanceNormalization,
    /// LayerNormalization, LpNormalization, MeanVarianceNormalization and GroupNormalization.
    mutating func registerNormalizationKernels() {
        registerBatchNormalizationKernels()
        registerLayerNormalizationKernels()
        registerLpAndMeanVarianceKernels()
        registerGroupNormalizationKernels()
    }
}
