import CGGMLKernels

/// The weights of one transformer block.
struct LlamaLayer: @unchecked Sendable {
    let attnNorm: [Float]
    let wq, wk, wv, wo: WeightMatrix
    let bq, bk, bv: [Float]?
    let ffnNorm: [Float]
    let gate, up, down: WeightMatrix
}

/// A LLaMA-family decoder (`llama`: LLaMA, Mistral, SmolLM; `qwen2`) whose weights stay in the
/// mapped GGUF file in their own types.
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let file: GGUFFile
    public let vocabSize: Int
    let embedding: WeightMatrix
    let layers: [LlamaLayer]
    let outputNorm: [Float]
    /// `output.weight`, or the token embedding when the file ties them.
    let output: WeightMatrix
    public let matmul: MatMul

    /// Loads the model of `file`, checking every tensor's presence and shape.
    public init(file: GGUFFile, threads: Int = 1) throws {
        let c = try LlamaConfig(file: file)
        config = c
        self.file = file
        matmul = MatMul(threads: threads)
        guard let emb = file.tensors["token_embd.weight"], emb.dims.count == 2 else { throw GenerateError.badTensor("'token_embd.weight' is missing") }
        vocabSize = emb.dims[1]
        let d = c.embeddingLength, q = c.headCount * c.headDim, kv = c.headCountKV * c.headDim
        embedding = try WeightMatrix(file: file, name: "token_embd.weight", cols: d, rows: vocabSize, pack: false)
        output = try WeightMatrix(file: file, name: file.tensors["output.weight"] != nil ? "output.weight" : "token_embd.weight",
                                  cols: d, rows: vocabSize)
        outputNorm = try loadVector(file, "output_norm.weight", count: d)
        var layers: [LlamaLayer] = []
        for i in 0..<c.blockCount {
            let p = "blk.\(i)."
            func opt(_ n: String, _ count: Int) throws -> [Float]? { file.tensors[p + n] == nil ? nil : try loadVector(file, p + n, count: count) }
            layers.append(LlamaLayer(
                attnNorm: try loadVector(file, p + "attn_norm.weight", count: d),
                wq: try WeightMatrix(file: file, name: p + "attn_q.weight", cols: d, rows: q),
                wk: try WeightMatrix(file: file, name: p + "attn_k.weight", cols: d, rows: kv),
                wv: try WeightMatrix(file: file, name: p + "attn_v.weight", cols: d, rows: kv),
                wo: try WeightMatrix(file: file, name: p + "attn_output.weight", cols: q, rows: d),
                bq: try opt("attn_q.bias", q), bk: try opt("attn_k.bias", kv), bv: try opt("attn_v.bias", kv),
                ffnNorm: try loadVector(file, p + "ffn_norm.weight", count: d),
                gate: try WeightMatrix(file: file, name: p + "ffn_gate.weight", cols: d, rows: c.feedForwardLength),
                up: try WeightMatrix(file: file, name: p + "ffn_up.weight", cols: d, rows: c.feedForwardLength),
                down: try WeightMatrix(file: file, name: p + "ffn_down.weight", cols: c.feedForwardLength, rows: d)))
        }
        self.layers = layers
    }

    /// Floats of K and V per token per layer.
    public var kvDim: Int { config.headCountKV * config.headDim }

    /// A KV cache for this model within `budgetBytes`.
    public func makeCache(budgetBytes: Int, blockSize: Int = 16) throws -> PagedKVCache {
        try PagedKVCache(layers: config.blockCount, kvDim: kvDim, blockSize: blockSize, budgetBytes: budgetBytes)
    }

    /// The weight types present, e.g. `["F32", "Q4_K", "Q6_K"]`.
    public var weightTypes: [String] {
        var s = Set<String>([embedding.type.name, output.type.name])
        for l in layers { for w in [l.wq, l.wk, l.wv, l.wo, l.gate, l.up, l.down] { s.insert(w.type.name) } }
        return s.sorted()
    }
}
