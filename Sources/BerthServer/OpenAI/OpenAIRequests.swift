import BerthGenerate

/// `stop`: one string or a list of them.
struct StopList: Decodable, Sendable {
    let values: [String]
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { values = [] } else if let s = try? c.decode(String.self) { values = [s] } else { values = try c.decode([String].self) }
    }
}

/// A chat message's `content`: a string, a list of `{"type": "text", "text": …}` parts, or null.
struct MessageContent: Decodable, Sendable {
    let text: String
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { text = ""; return }
        if let s = try? c.decode(String.self) { text = s; return }
        struct Part: Decodable { let type: String; let text: String? }
        guard let parts = try? c.decode([Part].self) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "content must be a string or a list of text parts")
        }
        guard parts.allSatisfy({ $0.type == "text" && $0.text != nil }) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "only text content parts are supported")
        }
        text = parts.compactMap(\.text).joined()
    }
}

/// `prompt` of a completion: a string, a one-element list of strings, or token ids.
enum PromptInput: Decodable, Sendable {
    case text(String)
    case tokens([Int])
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { self = .text(s); return }
        if let t = try? c.decode([Int].self) { self = .tokens(t); return }
        if let l = try? c.decode([String].self) {
            guard l.count == 1 else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "a list of \(l.count) prompts is not supported (give one)") }
            self = .text(l[0]); return
        }
        if let l = try? c.decode([[Int]].self) {
            guard l.count == 1 else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "a list of \(l.count) prompts is not supported (give one)") }
            self = .tokens(l[0]); return
        }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "prompt must be a string or a list of token ids")
    }
}

struct StreamOptions: Decodable, Sendable {
    let includeUsage: Bool?
    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}

/// The sampling fields chat and completions share (OpenAI's, plus vLLM's `top_k`, `min_p`,
/// `repetition_penalty`).
struct SamplingFields: Decodable, Sendable {
    let temperature: Float?
    let topP: Float?
    let topK: Int?
    let minP: Float?
    let presencePenalty: Float?
    let frequencyPenalty: Float?
    let repetitionPenalty: Float?
    let seed: Int64?
    let n: Int?
    let stop: StopList?
    let stream: Bool?
    let streamOptions: StreamOptions?
    let maxTokens: Int?
    let maxCompletionTokens: Int?
    let ignoreEOS: Bool?

    enum CodingKeys: String, CodingKey {
        case temperature, n, stop, stream, seed
        case topP = "top_p", topK = "top_k", minP = "min_p"
        case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty", repetitionPenalty = "repetition_penalty"
        case streamOptions = "stream_options", maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens"
        case ignoreEOS = "ignore_eos"
    }

    /// Most choices (`n`) one request may ask for: each is a sequence in the engine.
    static let maxChoices = 16

    /// Choices asked for (`n`, default 1; checked by ``parameters(logprobs:)``).
    var choices: Int { n ?? 1 }

    func parameters(logprobs: Int?) throws -> SamplingParameters {
        var p = SamplingParameters()
        if let v = temperature { p.temperature = v }
        if let v = topP { p.topP = v }
        if let v = topK { p.topK = v < 0 ? 0 : v }  // vLLM: -1 disables
        if let v = minP { p.minP = v }
        if let v = presencePenalty { p.presencePenalty = v }
        if let v = frequencyPenalty { p.frequencyPenalty = v }
        if let v = repetitionPenalty { p.repetitionPenalty = v }
        p.seed = seed.map { UInt64(bitPattern: $0) }
        p.logprobs = logprobs
        if let n, !(1...Self.maxChoices).contains(n) { throw OpenAIError.badRequest("n must be between 1 and \(Self.maxChoices), got \(n)", param: "n") }
        do { try p.validate() } catch { throw OpenAIError.badRequest("\(error)") }
        return p
    }
}

struct ChatMessageIn: Decodable, Sendable {
    let role: String
    let content: MessageContent?
}

/// `POST /v1/chat/completions`.
struct ChatCompletionRequest: Decodable, Sendable {
    let model: String
    let messages: [ChatMessageIn]
    let logprobs: Bool?
    let topLogprobs: Int?
    let addGenerationPrompt: Bool?
    let sampling: SamplingFields

    enum CodingKeys: String, CodingKey {
        case model, messages, logprobs, tools, functions
        case topLogprobs = "top_logprobs", addGenerationPrompt = "add_generation_prompt"
    }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Tool calling is not implemented: refuse rather than answer as if no tools were offered.
        for key in [CodingKeys.tools, .functions] where c.contains(key) && !((try? c.decodeNil(forKey: key)) ?? false) {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(key.stringValue) (tool calling) is not supported")
        }
        model = try c.decode(String.self, forKey: .model)
        messages = try c.decode([ChatMessageIn].self, forKey: .messages)
        logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
        topLogprobs = try c.decodeIfPresent(Int.self, forKey: .topLogprobs)
        addGenerationPrompt = try c.decodeIfPresent(Bool.self, forKey: .addGenerationPrompt)
        sampling = try SamplingFields(from: decoder)
    }
}

/// `POST /v1/completions`.
struct CompletionRequest: Decodable, Sendable {
    let model: String
    let prompt: PromptInput
    let logprobs: Int?
    let echo: Bool?
    let sampling: SamplingFields

    enum CodingKeys: String, CodingKey { case model, prompt, logprobs, echo }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        prompt = try c.decode(PromptInput.self, forKey: .prompt)
        logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
        sampling = try SamplingFields(from: decoder)
    }
}

/// `POST /tokenize` (vLLM's): a prompt, or messages rendered through the chat template.
struct TokenizeRequest: Decodable, Sendable {
    let model: String
    let prompt: String?
    let messages: [ChatMessageIn]?
    let addSpecialTokens: Bool?
    let addGenerationPrompt: Bool?
    enum CodingKeys: String, CodingKey {
        case model, prompt, messages
        case addSpecialTokens = "add_special_tokens", addGenerationPrompt = "add_generation_prompt"
    }
}

/// `POST /detokenize`.
struct DetokenizeRequest: Decodable, Sendable {
    let model: String
    let tokens: [Int]
}
