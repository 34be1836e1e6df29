/// One completion to generate: the prompt as token ids and when to stop.
public struct GenerationRequest: Sendable {
    public var prompt: [Int]
    /// Most tokens to generate (the context length also bounds them).
    public var maxTokens: Int
    public var sampling: SamplingParameters
    /// Token ids that end the completion (EOS, end-of-turn); they are not part of the text.
    public var stopTokens: Set<Int>
    /// Strings that end the completion; the text stops before the first one.
    public var stopStrings: [String]

    public init(prompt: [Int], maxTokens: Int, sampling: SamplingParameters = SamplingParameters(),
                stopTokens: Set<Int> = [], stopStrings: [String] = []) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopTokens = stopTokens
        self.stopStrings = stopStrings
    }
}

/// Why a completion ended (OpenAI's `finish_reason`, plus the cases the client never sees).
public enum FinishReason: String, Sendable {
    /// A stop token or stop string.
    case stop
    /// `max_tokens` or the end of the context.
    case length
    /// The consumer went away; its cache blocks were freed.
    case cancelled
}

/// One generated token as it streams out.
public struct GeneratedToken: Sendable {
    public let token: Int
    /// New text this token made visible (may be empty while a UTF-8 character or a possible stop
    /// string is incomplete; the held-back text arrives with a later token or the finish).
    public let text: String
    public let logprob: Float
    public let top: [(token: Int, logprob: Float)]
}

/// The end of a completion.
public struct GenerationSummary: Sendable {
    public let reason: FinishReason
    public let promptTokens: Int
    public let completionTokens: Int
    /// Text withheld until the end (a partial stop-string match that did not complete).
    public let trailingText: String
    /// Seconds from submission to the first token.
    public let timeToFirstToken: Double?
    /// Seconds from submission to the end.
    public let totalTime: Double
}

/// What a generation stream carries.
public enum GenerationEvent: Sendable {
    case token(GeneratedToken)
    case finished(GenerationSummary)
    case failed(GenerateError)
}
