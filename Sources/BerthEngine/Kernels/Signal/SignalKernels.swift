import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// The signal family (opset 17): DFT, STFT, the window functions and MelWeightMatrix.
    mutating func registerSignalKernels() {
        registerDFT()
        registerSTFT()
        registerWindowFunctions()
        registerMelWeightMatrix()
    }
}
