/// Token types of `tokenizer.ggml.token_type` (llama.cpp's `llama_token_type`).
public enum TokenType: Int32, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// The vocabulary of a GGUF model: token strings, scores, types, special ids and flags.
public struct Vocabulary: Sendable {
    /// `llama` (SentencePiece) or `gpt2` (byte-level BPE).
    public let model: String
    public let tokens: [String]
    public let scores: [Float]
    public let types: [TokenType]
    public let idOf: [String: Int]
    public let bos: Int?
    public let eos: Int?
    public let unk: Int?
    public let addBOS: Bool
    public let addEOS: Bool
    public let addSpacePrefix: Bool
    /// BPE merge ranks keyed by "left right".
    public let mergeRanks: [String: Int]
    /// Pre-tokenizer name (`tokenizer.ggml.pre`).
    public let pre: String
    public let chatTemplate: String?

    public var count: Int { tokens.count }

    /// Reads the `tokenizer.ggml.*` keys of `file`.
    public init(file: GGUFFile) throws {
        let md = file.metadata
        guard let model = md["tokenizer.ggml.model"]?.stringValue else { throw GenerateError.tokenizer("tokenizer.ggml.model is missing") }
        guard model == "llama" || model == "gpt2" else { throw GenerateError.tokenizer("tokenizer model '\(model)' is not supported (llama, gpt2 are)") }
        self.model = model
        guard let list = md["tokenizer.ggml.tokens"]?.arrayValue, !list.isEmpty else { throw GenerateError.tokenizer("tokenizer.ggml.tokens is missing") }
        tokens = try list.map { guard let s = $0.stringValue else { throw GenerateError.tokenizer("a token is not a string") }; return s }
        let n = tokens.count
        if let s = md["tokenizer.ggml.scores"]?.arrayValue {
            guard s.count == n else { throw GenerateError.tokenizer("\(s.count) scores for \(n) tokens") }
            scores = s.map { Float($0.doubleValue ?? 0) }
        } else { scores = [Float](repeating: 0, count: n) }
        if let t = md["tokenizer.ggml.token_type"]?.arrayValue {
            guard t.count == n else { throw GenerateError.tokenizer("\(t.count) token types for \(n) tokens") }
            types = t.map { TokenType(rawValue: Int32(clamping: $0.intValue ?? 1)) ?? .normal }
        } else { types = [TokenType](repeating: .normal, count: n) }
        var idOf: [String: Int] = [:]
        idOf.reserveCapacity(n)
        for (i, t) in tokens.enumerated() where idOf[t] == nil { idOf[t] = i }
        self.idOf = idOf
        func id(_ key: String) throws -> Int? {
            guard let v = md["tokenizer.ggml.\(key)"] else { return nil }
            guard let i = v.intValue, i < n else { throw GenerateError.tokenizer("tokenizer.ggml.\(key) = \(v) is not a token id") }
            return i
        }
        bos = try id("bos_token_id")
        eos = try id("eos_token_id")
        unk = try id("unknown_token_id")
        addBOS = md["tokenizer.ggml.add_bos_token"]?.boolValue ?? (model == "llama")
        addEOS = md["tokenizer.ggml.add_eos_token"]?.boolValue ?? false
        addSpacePrefix = md["tokenizer.ggml.add_space_prefix"]?.boolValue ?? (model == "llama")
        var ranks: [String: Int] = [:]
        if model == "gpt2" {
            guard let merges = md["tokenizer.ggml.merges"]?.arrayValue else { throw GenerateError.tokenizer("a gpt2 vocabulary needs tokenizer.ggml.merges") }
            for (i, m) in merges.enumerated() { if let s = m.stringValue, ranks[s] == nil { ranks[s] = i } }
        }
        mergeRanks = ranks
        pre = md["tokenizer.ggml.pre"]?.stringValue ?? "default"
        chatTemplate = md["tokenizer.chat_template"]?.stringValue
    }

    /// A vocabulary from its parts (another file format's reader, `Vocabulary+TokenizerJSON.swift`).
    init(model: String, tokens: [String], scores: [Float], types: [TokenType], idOf: [String: Int], bos: Int?, eos: Int?, unk: Int?,
         addBOS: Bool, addEOS: Bool, addSpacePrefix: Bool, mergeRanks: [String: Int], pre: String, chatTemplate: String?) {
        self.model = model
        self.tokens = tokens
        self.scores = scores
        self.types = types
        self.idOf = idOf
        self.bos = bos
        self.eos = eos
        self.unk = unk
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.mergeRanks = mergeRanks
        self.pre = pre
        self.chatTemplate = chatTemplate
    }

    /// Whether `id` is a control or unknown token (hidden from text unless asked for).
    public func isControl(_ id: Int) -> Bool { types[id] == .control || types[id] == .unknown }
}
