import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// The text family: StringNormalizer and TfIdfVectorizer (opsets 10 and 9, unchanged since),
    /// and the string ops of opset 20.
    mutating func registerTextKernels() {
        register("StringNormalizer", opsets: 10...Int.max) { node, _ in try stringNormalizer(node) }
        register("TfIdfVectorizer", opsets: 9...Int.max) { node, _ in try tfIdfVectorizer(node) }
        registerStringOps()
    }
}
