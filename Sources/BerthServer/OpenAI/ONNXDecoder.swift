import BerthEngine
import BerthGenerate
import BerthTensor
import Foundation

/// A decoder-only ONNX model in the layout Optimum and ONNX Runtime GenAI export: `input_ids`,
/// `attention_mask`, optional `position_ids` and `past_key_values.N.key/value` in; `logits` and
/// `present.N.key/value` out (names from `genai_config.json` when present). Run by the
/// ``GenerationEngine`` like a GGUF model: each chunk is one `Session.run` whose `present`
/// tensors become the sequence's next `past` (the keys and values stay the model's own float32
/// tensors, so the paged cache only accounts for them and prefixes are not shared).
final class ONNXDecoder: CausalLanguageModel, @unchecked Sendable {
    // @unchecked: `past` is touched only by the engine's loop thread.
    struct Names {
        var inputIDs = "input_ids", attentionMask = "attention_mask", positionIDs = "position_ids"
        var pastKey = "past_key_values.%d.key", pastValue = "past_key_values.%d.value"
        var logits = "logits", presentKey = "present.%d.key", presentValue = "present.%d.value"
        func name(_ pattern: String, _ layer: Int) -> String { pattern.replacingOccurrences(of: "%d", with: String(layer)) }
    }

    let session: Session
    let names: Names
    let layers: Int
    let kvHeads: Int
    let headDim: Int
    let contextLength: Int
    let vocabSize: Int
    let hasPositionIDs: Bool
    var supportsPrefixCaching: Bool { false }
    /// Sequence → its past keys and values, layer by layer (key, value).
    private var past: [Int: [(Tensor, Tensor)]] = [:]

    /// Checks that `session` has the decoder layout; `config` is `genai_config.json`'s `model` object, if any.
    init(session: Session, config: [String: Any]?) throws {
        self.session = session
        let decoder = config?["decoder"] as? [String: Any]
        var n = Names()
        if let i = decoder?["inputs"] as? [String: String] {
            n.inputIDs = i["input_ids"] ?? n.inputIDs
            n.attentionMask = i["attention_mask"] ?? n.attentionMask
            n.positionIDs = i["position_ids"] ?? n.positionIDs
            n.pastKey = i["past_key_names"] ?? n.pastKey
            n.pastValue = i["past_value_names"] ?? n.pastValue
        }
        if let o = decoder?["outputs"] as? [String: String] {
            n.logits = o["logits"] ?? n.logits
            n.presentKey = o["present_key_names"] ?? n.presentKey
            n.presentValue = o["present_value_names"] ?? n.presentValue
        }
        names = n
        let inputs = Dictionary(session.inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let outputs = Set(session.outputs.map(\.name))
        guard inputs[n.inputIDs] != nil, inputs[n.attentionMask] != nil, outputs.contains(n.logits) else {
            throw GenerateError.badMetadata("not a decoder: needs inputs \(n.inputIDs), \(n.attentionMask) and output \(n.logits)")
        }
        var count = 0
        while inputs[n.name(n.pastKey, count)] != nil { count += 1 }
        if let l = decoder?["num_hidden_layers"] as? Int, l != count {
            throw GenerateError.badMetadata("genai_config.json says \(l) layers, the model has \(count) past key inputs")
        }
        guard count > 0 else { throw GenerateError.badMetadata("the model has no \(n.name(n.pastKey, 0)) input: export it with past key values") }
        for l in 0..<count {
            for name in [n.name(n.pastValue, l)] where inputs[name] == nil { throw GenerateError.badMetadata("input \(name) is missing") }
            for name in [n.name(n.presentKey, l), n.name(n.presentValue, l)] where !outputs.contains(name) {
                throw GenerateError.badMetadata("output \(name) is missing")
            }
            for name in [n.name(n.pastKey, l), n.name(n.pastValue, l)] where inputs[name]?.dtype != .float32 {
                throw GenerateError.badMetadata("\(name) is \(inputs[name]?.dtype.map { "\($0)" } ?? "untyped"): only float32 keys and values are supported")
            }
        }
        layers = count
        // [batch, kv heads, past, head size]: the sizes from genai_config.json, else the declared dimensions.
        let dims = inputs[n.name(n.pastKey, 0)]?.shape ?? []
        func fixed(_ i: Int) -> Int? { if dims.count == 4, case let .fixed(v) = dims[i] { return v } else { return nil } }
        guard let kvh = decoder?["num_key_value_heads"] as? Int ?? fixed(1), let hd = decoder?["head_size"] as? Int ?? fixed(3),
              kvh > 0, hd > 0, kvh <= 4096, hd <= 4096 else {
            throw GenerateError.badMetadata("the key/value head count and size are neither in genai_config.json nor fixed in \(n.name(n.pastKey, 0))'s shape")
        }
        kvHeads = kvh
        headDim = hd
        contextLength = min(max(config?["context_length"] as? Int ?? 2048, 1), 1 << 20)
        hasPositionIDs = inputs[n.positionIDs] != nil
        // The vocabulary size: genai_config.json's, else the logits' last declared dimension.
        if let v = config?["vocab_size"] as? Int, v > 0 { vocabSize = v } else if let last = session.outputs.first(where: { $0.name == n.logits })?.shape?.last,
                                                                              case let .fixed(v) = last { vocabSize = v } else {
            throw GenerateError.badMetadata("the vocabulary size is neither in genai_config.json nor fixed in the logits' shape")
        }
    }

    func makeCache(budgetBytes: Int, blockSize: Int) throws -> PagedKVCache {
        // The real tensors take layers × 2 × kvHeads × headDim floats per token; the paged cache
        // only counts blocks, so it holds one float per token and key/value.
        let perToken = layers * 2 * kvHeads * headDim * MemoryLayout<Float>.size
        let blocks = budgetBytes / max(1, perToken * blockSize)
        return try PagedKVCache(layers: 1, kvDim: 1, blockSize: blockSize, budgetBytes: max(blocks, 0) * 2 * blockSize * MemoryLayout<Float>.size)
    }

    func release(sequence: Int) { past[sequence] = nil }

    func forward(_ chunks: [ForwardChunk], cache: PagedKVCache) throws -> [[Float]?] {
        try chunks.map { try run($0) }
    }

    /// One chunk through the model, its `present` kept as the sequence's `past`.
    private func run(_ c: ForwardChunk) throws -> [Float]? {
        let kv = try past[c.sequence] ?? (0..<layers).map { _ in
            (try Tensor.zeros(.float32, shape: [1, kvHeads, 0, headDim]), try Tensor.zeros(.float32, shape: [1, kvHeads, 0, headDim]))
        }
        let pastLength = kv.first?.0.shape[2] ?? 0
        guard c.startPosition == pastLength else {
            throw GenerateError.invalidRequest("decoder state of sequence \(c.sequence) holds \(pastLength) tokens, the chunk starts at \(c.startPosition)")
        }
        let n = c.tokens.count, total = pastLength + n
        var feeds: [String: Tensor] = [
            names.inputIDs: try Tensor(shape: [1, n], values: c.tokens.map(Int64.init)),
            names.attentionMask: try Tensor(shape: [1, total], values: [Int64](repeating: 1, count: total)),
        ]
        if hasPositionIDs { feeds[names.positionIDs] = try Tensor(shape: [1, n], values: (pastLength..<total).map(Int64.init)) }
        for (l, (k, v)) in kv.enumerated() {
            feeds[names.name(names.pastKey, l)] = k
            feeds[names.name(names.pastValue, l)] = v
        }
        let out = try session.run(feeds)
        var next: [(Tensor, Tensor)] = []
        for l in 0..<layers {
            guard let k = out[names.name(names.presentKey, l)], let v = out[names.name(names.presentValue, l)],
                  k.shape == [1, kvHeads, total, headDim], v.shape == k.shape else {
                throw GenerateError.invalidRequest("present key/value of layer \(l) do not have shape [1, \(kvHeads), \(total), \(headDim)]")
            }
            next.append((k, v))
        }
        past[c.sequence] = next
        guard c.wantLogits else { return nil }
        guard let logits = out[names.logits], logits.shape.count == 3, logits.shape[0] == 1, logits.shape[2] == vocabSize,
              logits.shape[1] == n || logits.shape[1] == 1 else {
            throw GenerateError.invalidRequest("logits have shape \(out[names.logits]?.shape ?? []), not [1, \(n), \(vocabSize)]")
        }
        let all = try logits.values(Float.self)
        return Array(all[(all.count - vocabSize)...])
    }

    /// Reads a decoder from a folder (or its `.onnx` file inside one) holding `model.onnx` (or
    /// genai_config.json's `decoder.filename`), `tokenizer.json` and optionally
    /// `genai_config.json` and `tokenizer_config.json` (its `chat_template`). A file without them
    /// beside it (a registry version) carries them in `metadata_props` under the same names.
    static func load(path: String, threads: Int) throws -> (ONNXDecoder, Vocabulary, fileBytes: Int) {
        var isDir: ObjCBool = false
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw GenerateError.badMetadata("\(path) does not exist") }
        let dir = isDir.boolValue ? url : url.deletingLastPathComponent()
        func beside(_ name: String) -> Data? { FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) }
        func object(_ data: Data?, _ name: String) throws -> [String: Any]? {
            guard let data else { return nil }
            guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw GenerateError.badMetadata("\(name) is not a JSON object") }
            return o
        }
        var genai = try object(beside("genai_config.json"), "genai_config.json")?["model"] as? [String: Any]
        let file = isDir.boolValue ? dir.appendingPathComponent((genai?["decoder"] as? [String: Any])?["filename"] as? String ?? "model.onnx") : url
        let session: Session
        do { session = try Session(contentsOf: file, options: SessionOptions(intraOpThreads: threads)) } catch {
            throw GenerateError.badMetadata("\(file.lastPathComponent): \(error)")
        }
        let metadata = session.model.metadata
        func companion(_ name: String) -> Data? { beside(name) ?? metadata[name].map { Data($0.utf8) } }
        if genai == nil { genai = try object(companion("genai_config.json"), "genai_config.json")?["model"] as? [String: Any] }
        let decoder = try ONNXDecoder(session: session, config: genai)
        guard let tokenizer = companion("tokenizer.json") else {
            throw GenerateError.tokenizer("no tokenizer.json beside \(file.lastPathComponent) or in its metadata_props")
        }
        func id(_ v: Any?) -> Int? { (v as? Int) ?? (v as? [Int])?.first }
        let template = try object(companion("tokenizer_config.json"), "tokenizer_config.json")?["chat_template"] as? String
        let vocab = try Vocabulary(tokenizerJSON: tokenizer, bos: id(genai?["bos_token_id"]), eos: id(genai?["eos_token_id"]), chatTemplate: template,
                                   size: decoder.vocabSize)
        guard vocab.count == decoder.vocabSize else {
            throw GenerateError.tokenizer("\(vocab.count) tokens in tokenizer.json, \(decoder.vocabSize) logits")
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
        return (decoder, vocab, bytes)
    }
}
