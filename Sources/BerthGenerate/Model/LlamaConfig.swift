/// The hyperparameters of a LLaMA-family model, read from GGUF metadata (`{arch}.*` keys).
public struct LlamaConfig: Sendable, Equatable {
    /// Architectures with this layout. `qwen2` adds Q/K/V biases and neox-style RoPE.
    public static let architectures: Set<String> = ["llama", "qwen2"]

    public var architecture: String
    public var contextLength: Int
    public var embeddingLength: Int
    public var blockCount: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var headCountKV: Int
    public var headDim: Int
    public var rmsEpsilon: Float
    public var ropeFreqBase: Float
    /// 1 / the linear scaling factor (`rope.scaling.type = linear`).
    public var ropeFreqScale: Float
    public var ropeDimensions: Int
    /// Neox-style RoPE rotates (i, i + d/2) pairs instead of adjacent ones.
    public var ropeNeox: Bool

    /// Reads and checks the hyperparameters of `file`.
    public init(file: GGUFFile) throws {
        let md = file.metadata
        guard let arch = md["general.architecture"]?.stringValue else { throw GenerateError.badMetadata("general.architecture is missing") }
        guard Self.architectures.contains(arch) else { throw GenerateError.unsupportedArchitecture(arch) }
        architecture = arch
        func int(_ key: String, default d: Int? = nil) throws -> Int {
            if let v = md["\(arch).\(key)"] {
                guard let i = v.intValue, i >= 0, i <= 1 << 24 else { throw GenerateError.badMetadata("\(arch).\(key) = \(v) is not a sane integer") }
                return i
            }
            if let d { return d }
            throw GenerateError.badMetadata("\(arch).\(key) is missing")
        }
        func float(_ key: String, default d: Float) throws -> Float {
            guard let v = md["\(arch).\(key)"] else { return d }
            guard let f = v.doubleValue, f.isFinite else { throw GenerateError.badMetadata("\(arch).\(key) = \(v) is not a number") }
            return Float(f)
        }
        contextLength = try int("context_length")
        embeddingLength = try int("embedding_length")
        blockCount = try int("block_count")
        feedForwardLength = try int("feed_forward_length")
        headCount = try int("attention.head_count")
        headCountKV = try int("attention.head_count_kv", default: headCount)
        guard embeddingLength > 0, blockCount > 0, blockCount <= 1024, feedForwardLength > 0, headCount > 0, headCountKV > 0,
              contextLength > 0, headCount % headCountKV == 0, embeddingLength % headCount == 0 else {
            throw GenerateError.badMetadata("inconsistent sizes: embedding \(embeddingLength), heads \(headCount)/\(headCountKV), layers \(blockCount), ffn \(feedForwardLength), context \(contextLength)")
        }
        headDim = try int("attention.key_length", default: embeddingLength / headCount)
        rmsEpsilon = try float("attention.layer_norm_rms_epsilon", default: 1e-5)
        ropeFreqBase = try float("rope.freq_base", default: 10000)
        ropeDimensions = try int("rope.dimension_count", default: headDim)
        guard headDim > 0, headDim % 2 == 0, ropeDimensions <= headDim, ropeDimensions % 2 == 0 else {
            throw GenerateError.badMetadata("head size \(headDim) / rope dimensions \(ropeDimensions) are not usable")
        }
        ropeFreqScale = 1
        if let type = md["\(arch).rope.scaling.type"]?.stringValue, type != "none" {
            guard type == "linear" else { throw GenerateError.badMetadata("rope scaling '\(type)' is not supported (linear is)") }
            let factor = try float("rope.scaling.factor", default: 1)
            guard factor > 0 else { throw GenerateError.badMetadata("rope.scaling.factor must be positive") }
            ropeFreqScale = 1 / factor
        }
        ropeNeox = arch == "qwen2"
    }
}
