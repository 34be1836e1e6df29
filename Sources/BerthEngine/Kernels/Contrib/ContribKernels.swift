import BerthONNX
import BerthTensor

/// ONNX Runtime's `com.microsoft` contrib operators that exporters and ORT's offline optimizer
/// write into saved models, following ORT's contrib-op specs (ContribOperators.md). Every one is
/// at version 1 of the domain.
enum ContribOps {
    static let domain = "com.microsoft"
    static let opsets = 1...1
}

extension KernelRegistry {
    /// Registers the `com.microsoft` family.
    mutating func registerContribKernels() {
        registerContribFusedMatMul()
        registerContribGelus()
        registerContribSkipLayerNormalization()
        registerContribCDist()
        registerContribAttention()
        registerContribMatMulNBits()
        registerContribTokenizer()
        registerContribFusedConvGemm()
        registerContribSimplifiedLayerNormalization()
        registerContribEmbedLayerNormalization()
        registerContribQuantizedMatMul()
        registerContribQLinearOps()
        registerContribMultiHeadAttention()
        registerContribRotaryEmbedding()
        registerContribGroupQueryAttention()
        registerContribAliases()
        registerContribInverse()
    }
}

/// The float32 elements of a contrib op's input (ORT's CPU kernels of these ops are float only).
func contribFloats(_ t: Tensor, _ what: String) throws -> [Float] {
    guard t.dtype == .float32 else { throw KernelError("\(what) must be float, got \(t.dtype)") }
    return t.floats
}
