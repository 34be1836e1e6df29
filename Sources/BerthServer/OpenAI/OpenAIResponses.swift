/// Token counts of a request (`usage`).
struct Usage: Encodable, Sendable {
    let promptTokens: Int
    let completionTokens: Int
    var totalTokens: Int { promptTokens + completionTokens }
    enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens" }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(promptTokens, forKey: .promptTokens)
        try c.encode(completionTokens, forKey: .completionTokens)
        try c.encode(totalTokens, forKey: .totalTokens)
    }
}

struct TopLogprob: Encodable, Sendable {
    let token: String
    let logprob: Float
    let bytes: [UInt8]
}

/// One token of chat `logprobs.content`.
struct ChatTokenLogprob: Encodable, Sendable {
    let token: String
    let logprob: Float
    let bytes: [UInt8]
    let topLogprobs: [TopLogprob]
    enum CodingKeys: String, CodingKey { case token, logprob, bytes, topLogprobs = "top_logprobs" }
}

struct ChatLogprobs: Encodable, Sendable { let content: [ChatTokenLogprob] }

struct ChatMessageOut: Encodable, Sendable {
    let role: String
    let content: String
}

struct ChatChoice: Encodable, Sendable {
    let index: Int
    let message: ChatMessageOut
    let logprobs: ChatLogprobs?
    let finishReason: String
    enum CodingKeys: String, CodingKey { case index, message, logprobs, finishReason = "finish_reason" }
}

struct ChatCompletion: Encodable, Sendable {
    let id: String
    let object = "chat.completion"
    let created: Int
    let model: String
    let choices: [ChatChoice]
    let usage: Usage
}

struct ChatDelta: Encodable, Sendable {
    let role: String?
    let content: String?
}

struct ChatChunkChoice: Encodable, Sendable {
    let index: Int
    let delta: ChatDelta
    let logprobs: ChatLogprobs?
    let finishReason: String?
    enum CodingKeys: String, CodingKey { case index, delta, logprobs, finishReason = "finish_reason" }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(delta, forKey: .delta)
        try c.encodeIfPresent(logprobs, forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)  // null until the last chunk
    }
}

struct ChatCompletionChunk: Encodable, Sendable {
    let id: String
    let object = "chat.completion.chunk"
    let created: Int
    let model: String
    let choices: [ChatChunkChoice]
    let usage: Usage?
}

/// Completions `logprobs` (the legacy layout).
struct CompletionLogprobs: Encodable, Sendable {
    var tokens: [String] = []
    var tokenLogprobs: [Float] = []
    var topLogprobs: [[String: Float]] = []
    var textOffset: [Int] = []
    enum CodingKeys: String, CodingKey { case tokens, tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs", textOffset = "text_offset" }
}

struct CompletionChoice: Encodable, Sendable {
    let index: Int
    let text: String
    let logprobs: CompletionLogprobs?
    let finishReason: String?
    enum CodingKeys: String, CodingKey { case index, text, logprobs, finishReason = "finish_reason" }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(text, forKey: .text)
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)
    }
}

struct Completion: Encodable, Sendable {
    let id: String
    let object = "text_completion"
    let created: Int
    let model: String
    let choices: [CompletionChoice]
    let usage: Usage?
}

struct OpenAIModelCard: Encodable, Sendable {
    let id: String
    let object = "model"
    let created: Int
    let ownedBy = "berth"
    let maxModelLen: Int
    enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by", maxModelLen = "max_model_len" }
}

struct OpenAIModelList: Encodable, Sendable {
    let object = "list"
    let data: [OpenAIModelCard]
}

struct TokenizeResponse: Encodable, Sendable {
    let count: Int
    let maxModelLen: Int
    let tokens: [Int]
    enum CodingKeys: String, CodingKey { case count, tokens, maxModelLen = "max_model_len" }
}

struct DetokenizeResponse: Encodable, Sendable { let prompt: String }
