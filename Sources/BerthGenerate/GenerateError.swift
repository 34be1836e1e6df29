/// Everything that can go wrong in BerthGenerate, each case carrying what a user needs to fix it.
public enum GenerateError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file is not a well-formed GGUF file (truncated, sizes beyond the file, bad magic …).
    case invalidGGUF(String)
    /// A tensor uses a ggml type Berth has no kernel for.
    case unsupportedTensorType(tensor: String, type: UInt32)
    /// `general.architecture` names a model family Berth does not implement.
    case unsupportedArchitecture(String)
    /// A tensor the architecture needs is absent, or its shape is not what the metadata implies.
    case badTensor(String)
    /// A metadata key the architecture needs is absent or has the wrong type.
    case badMetadata(String)
    /// The vocabulary or tokenizer metadata is unusable.
    case tokenizer(String)
    /// The chat template uses a construct outside the supported Jinja subset, or failed.
    case template(String)
    /// A request Berth cannot honour (prompt longer than the context, bad sampling value …).
    case invalidRequest(String)
    /// The KV cache has no free block for a sequence that needs one.
    case cacheFull(String)

    public var description: String {
        switch self {
        case .invalidGGUF(let m): return "invalid GGUF file: \(m)"
        case .unsupportedTensorType(let t, let type): return "tensor '\(t)' has unsupported ggml type \(type)"
        case .unsupportedArchitecture(let a): return "unsupported model architecture '\(a)' (supported: llama, qwen2)"
        case .badTensor(let m): return "bad tensor: \(m)"
        case .badMetadata(let m): return "bad metadata: \(m)"
        case .tokenizer(let m): return "tokenizer: \(m)"
        case .template(let m): return "chat template: \(m)"
        case .invalidRequest(let m): return m
        case .cacheFull(let m): return "KV cache full: \(m)"
        }
    }
}
