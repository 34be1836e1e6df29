import Foundation

extension Vocabulary {
    /// A byte-level BPE vocabulary (GPT-2's, as ONNX decoders ship it) from Hugging Face's
    /// `tokenizer.json`: `model.vocab`, `model.merges` (strings `"a b"` or pairs) and the added
    /// tokens (special ones become control tokens). `bos` / `eos` come from the model's
    /// configuration (`genai_config.json`), `chatTemplate` from `tokenizer_config.json`.
    /// `size`: the model's logits count when it pads the vocabulary (the extra ids decode to nothing).
    public init(tokenizerJSON data: Data, bos: Int?, eos: Int?, chatTemplate: String?, size: Int? = nil) throws {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let m = root["model"] as? [String: Any] else { throw GenerateError.tokenizer("tokenizer.json is not a JSON object with a model") }
        guard (m["type"] as? String) == "BPE", let vocab = m["vocab"] as? [String: Int] else {
            throw GenerateError.tokenizer("tokenizer.json: only a byte-level BPE model is supported for decoders")
        }
        if let pre = root["pre_tokenizer"] as? [String: Any], (pre["type"] as? String) != "ByteLevel" {
            throw GenerateError.tokenizer("tokenizer.json: pre-tokenizer '\(pre["type"] ?? "?")' is not supported (ByteLevel is)")
        }
        var byID: [Int: String] = [:]
        for (t, i) in vocab { byID[i] = t }
        var special = Set<Int>()
        for a in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = a["id"] as? Int, let content = a["content"] as? String else { continue }
            byID[id] = content
            if a["special"] as? Bool ?? false { special.insert(id) }
        }
        let n = max((byID.keys.max() ?? -1) + 1, size ?? 0)
        guard n > 0, n <= 1 << 22, byID.keys.allSatisfy({ $0 >= 0 }) else { throw GenerateError.tokenizer("tokenizer.json: token ids are not 0..<n") }
        // Ids without a token (holes) decode to nothing.
        let tokens = (0..<n).map { byID[$0] ?? "" }
        var ranks: [String: Int] = [:]
        for (i, merge) in (m["merges"] as? [Any] ?? []).enumerated() {
            let key: String?
            if let s = merge as? String { key = s } else if let p = merge as? [String], p.count == 2 { key = p[0] + " " + p[1] } else { key = nil }
            if let key, ranks[key] == nil { ranks[key] = i }
        }
        for id in [bos, eos].compactMap({ $0 }) where id >= n { throw GenerateError.tokenizer("special token id \(id) is outside the \(n)-token vocabulary") }
        var idOf: [String: Int] = [:]
        for (i, t) in tokens.enumerated() where idOf[t] == nil && !t.isEmpty { idOf[t] = i }
        self.init(model: "gpt2", tokens: tokens, scores: [Float](repeating: 0, count: n),
                  types: (0..<n).map { special.contains($0) ? .control : .normal }, idOf: idOf, bos: bos, eos: eos,
                  unk: nil, addBOS: false, addEOS: false, addSpacePrefix: false, mergeRanks: ranks, pre: "gpt2", chatTemplate: chatTemplate)
    }
}
