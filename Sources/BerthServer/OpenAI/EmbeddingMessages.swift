/// `POST /v1/embeddings`: OpenAI's request, plus `normalize` (Berth's: L2-normalise the pooled vector, default true).
struct EmbeddingRequest: Decodable, Sendable {
    /// One text, a list of texts, token ids, or a list of token-id lists.
    enum Input: Decodable, Sendable {
        case texts([String])
        case tokens([[Int]])
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .texts([s]); return }
            if let l = try? c.decode([String].self) { self = .texts(l); return }
            if let t = try? c.decode([Int].self) { self = .tokens([t]); return }
            if let t = try? c.decode([[Int]].self) { self = .tokens(t); return }
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "input must be a string, a list of strings, or token ids")
        }
    }
    let model: String
    let input: Input
    let encodingFormat: String?
    let dimensions: Int?
    let normalize: Bool?
    let user: String?
    enum CodingKeys: String, CodingKey {
        case model, input, dimensions, normalize, user
        case encodingFormat = "encoding_format"
    }
}

/// One vector: a list of numbers, or (`encoding_format: base64`) the base64 of its little-endian float32 bytes.
struct EmbeddingItem: Encodable, Sendable {
    enum Vector: Encodable, Sendable {
        case floats([Float])
        case base64(String)
        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case let .floats(f): try c.encode(f)
            case let .base64(s): try c.encode(s)
            }
        }
    }
    let object = "embedding"
    let index: Int
    let embedding: Vector
}

/// OpenAI's response shape.
struct EmbeddingResponse: Encodable, Sendable {
    struct Usage: Encodable, Sendable {
        let promptTokens: Int
        var totalTokens: Int { promptTokens }
        enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", totalTokens = "total_tokens" }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(promptTokens, forKey: .promptTokens)
            try c.encode(totalTokens, forKey: .totalTokens)
        }
    }
    let object = "list"
    let data: [EmbeddingItem]
    let model: String
    let usage: Usage
}
