import BerthGenerate
import Foundation

/// What a GGUF language model version is, recorded with it at push (`berth registry show`).
public struct LLMSignature: Sendable, Codable, Equatable {
    /// `general.architecture` (`llama`, `qwen2`).
    public var architecture: String
    /// The context the model was trained for, in tokens.
    public var contextLength: Int
    /// The weight types, most bytes first (`Q4_0`, `F32` …).
    public var quantization: [String]
    /// Weights, summed over every tensor.
    public var parameterCount: Int
    /// Tokens in the vocabulary.
    public var vocabularySize: Int

    enum CodingKeys: String, CodingKey {
        case architecture, quantization
        case contextLength = "context_length"
        case parameterCount = "parameter_count"
        case vocabularySize = "vocabulary_size"
    }
}

extension ModelSignature {
    /// The signature every language model shares: text in, text out (so versions of one LLM
    /// never differ, and an ONNX model cannot silently become an LLM without
    /// `--allow-signature-change`).
    static let text = ModelSignature(inputs: [TensorSpec(name: "prompt", datatype: "BYTES", shape: [-1])],
                                     outputs: [TensorSpec(name: "text", datatype: "BYTES", shape: [-1])])

    /// True when the file starts with GGUF's magic (llama.cpp's format) rather than ONNX's protobuf.
    public static func isGGUF(file url: URL) -> Bool {
        guard let h = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    /// Reads a GGUF language model: its header, tensor table and hyperparameters are checked
    /// (an unknown architecture or a truncated file is refused at push, not when served).
    public init(ggufFile url: URL) throws {
        let file: GGUFFile
        let config: LlamaConfig
        let vocabulary: Int
        do {
            file = try GGUFFile(path: url.path)
            config = try LlamaConfig(file: file)
            vocabulary = try Vocabulary(file: file).count
        } catch let e as GenerateError {
            throw RegistryError.badInput("not a valid GGUF model: \(e)")
        }
        var parameters = 0
        var bytesByType: [String: Int] = [:]
        for info in file.tensors.values {
            let (n, overflow) = info.dims.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow else { throw RegistryError.badInput("not a valid GGUF model: tensor '\(info.name)' has \(info.dims) elements") }
            parameters = parameters.addingReportingOverflow(n).partialValue
            bytesByType[info.type.name, default: 0] += info.byteCount
        }
        self = Self.text
        llm = LLMSignature(architecture: config.architecture, contextLength: config.contextLength,
                           quantization: bytesByType.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map(\.key),
                           parameterCount: parameters, vocabularySize: vocabulary)
    }
}
