/// What the ``GenerationEngine`` needs of a model: a forward pass over chunks of sequences that
/// returns last-token logits, and a KV cache to account for the tokens sequences hold.
/// ``LlamaModel`` (GGUF) keeps its keys and values in the paged cache; a model that keeps them
/// as its own tensors (an ONNX decoder with `past_key_values` inputs) uses the cache for
/// admission only and drops a sequence's tensors in ``release(sequence:)``.
public protocol CausalLanguageModel: AnyObject, Sendable {
    /// The longest sequence the model was trained for, in tokens.
    var contextLength: Int { get }
    /// Rows of the logits.
    var vocabSize: Int { get }
    /// Whether a prompt may reuse the cache blocks of an earlier prompt (only when the keys and
    /// values live in the paged cache).
    var supportsPrefixCaching: Bool { get }
    /// A cache within `budgetBytes` (for the keys and values, wherever the model keeps them).
    func makeCache(budgetBytes: Int, blockSize: Int) throws -> PagedKVCache
    /// Runs the chunks (the cache was reserved for them) and returns each chunk's last-token
    /// logits when it wants them.
    func forward(_ chunks: [ForwardChunk], cache: PagedKVCache) throws -> [[Float]?]
    /// The sequence ended or was cancelled: forget what the model keeps for it.
    func release(sequence: Int)
}

extension LlamaModel: CausalLanguageModel {
    public var contextLength: Int { config.contextLength }
    public var supportsPrefixCaching: Bool { true }
    public func release(sequence: Int) {}
}
