/// How the next token is chosen, OpenAI's and vLLM's request fields.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 is greedy (argmax).
    public var temperature: Float = 1
    /// Keep the k most likely tokens (0: all).
    public var topK: Int = 0
    /// Keep the smallest set whose probability reaches p.
    public var topP: Float = 1
    /// Drop tokens less likely than minP × the most likely one.
    public var minP: Float = 0
    /// Divides positive / multiplies negative logits of tokens seen in prompt or output (1: off).
    public var repetitionPenalty: Float = 1
    /// Subtracted once from the logit of every token already generated.
    public var presencePenalty: Float = 0
    /// Subtracted per occurrence from the logit of every token already generated.
    public var frequencyPenalty: Float = 0
    /// Same seed, same prompt, same parameters: same tokens.
    public var seed: UInt64?
    /// Top alternatives whose log-probabilities are returned per token (nil: none).
    public var logprobs: Int?

    public init() {}

    /// Checks the ranges OpenAI documents; the message names the field.
    public func validate() throws {
        func bad(_ m: String) -> GenerateError { .invalidRequest(m) }
        guard temperature.isFinite, temperature >= 0, temperature <= 100 else { throw bad("temperature must be between 0 and 100") }
        guard topK >= 0 else { throw bad("top_k must be non-negative") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw bad("top_p must be in (0, 1]") }
        guard minP.isFinite, minP >= 0, minP <= 1 else { throw bad("min_p must be in [0, 1]") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0, repetitionPenalty <= 10 else { throw bad("repetition_penalty must be in (0, 10]") }
        guard presencePenalty.isFinite, abs(presencePenalty) <= 2 else { throw bad("presence_penalty must be between -2 and 2") }
        guard frequencyPenalty.isFinite, abs(frequencyPenalty) <= 2 else { throw bad("frequency_penalty must be between -2 and 2") }
        if let l = logprobs { guard (0...20).contains(l) else { throw bad("logprobs must be between 0 and 20") } }
    }
}
