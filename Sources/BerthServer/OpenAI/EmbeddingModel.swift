import BerthEngine
import BerthGenerate
import BerthTensor
import Foundation

/// A BERT-family ONNX encoder used for embeddings: the tokenizer that goes with it and how its
/// inputs are named. The tokenizer is `metadata_props["tokenizer.json"]` of the model file (a
/// registry version is one self-contained file), else `tokenizer.json` beside the file.
struct EmbeddingModel: Sendable {
    let tokenizer: WordPieceTokenizer
    let hasTokenTypes: Bool
    /// The output pooled: `last_hidden_state` / `token_embeddings` when present, else the first.
    let output: String

    /// Reads what `session` needs to embed text; throws a 400 naming what is missing.
    init(session: Session, besideFile: URL?) throws {
        let names = Set(session.inputs.map(\.name))
        guard names.contains("input_ids"), names.contains("attention_mask"),
              names.isSubset(of: ["input_ids", "attention_mask", "token_type_ids"]) else {
            throw OpenAIError.badRequest("the model is not a text encoder: its inputs are \(session.inputs.map(\.name).sorted()), not input_ids, attention_mask and optional token_type_ids", param: "model")
        }
        hasTokenTypes = names.contains("token_type_ids")
        let outputs = session.outputs.map(\.name)
        guard let out = outputs.first(where: { $0 == "last_hidden_state" || $0 == "token_embeddings" }) ?? outputs.first else {
            throw OpenAIError.badRequest("the model has no outputs", param: "model")
        }
        output = out
        let json: Data
        if let text = session.model.metadata["tokenizer.json"] {
            json = Data(text.utf8)
        } else if let besideFile, let data = FileManager.default.contents(atPath: besideFile.path) {
            json = data
        } else {
            throw OpenAIError.badRequest("the model has no tokenizer: put tokenizer.json in its metadata_props or beside the model file", param: "model")
        }
        do { tokenizer = try WordPieceTokenizer(json: json) } catch { throw OpenAIError.badRequest("\(error)", param: "model") }
    }

    /// Token ids of a batch, padded to the longest, through the encoder; each row mean-pooled
    /// over its attention mask (a rank-2 output is taken as already pooled), then L2-normalised
    /// if asked. Sizes are checked before anything is allocated.
    func embed(_ batch: [[Int]], session: Session, normalize: Bool) throws -> [[Float]] {
        let rows = batch.count
        let length = batch.map(\.count).max() ?? 0
        guard rows > 0, length > 0 else { throw OpenAIError.badRequest("the input is empty", param: "input") }
        let (cells, overflow) = rows.multipliedReportingOverflow(by: length)
        guard !overflow, cells <= 1 << 22 else { throw OpenAIError.badRequest("\(rows) inputs of up to \(length) tokens are too many at once", param: "input") }
        var ids = [Int64](repeating: Int64(tokenizer.padID), count: cells)
        var mask = [Int64](repeating: 0, count: cells)
        for (r, row) in batch.enumerated() {
            for (c, t) in row.enumerated() {
                ids[r * length + c] = Int64(t)
                mask[r * length + c] = 1
            }
        }
        var feeds = ["input_ids": try Tensor(shape: [rows, length], values: ids),
                     "attention_mask": try Tensor(shape: [rows, length], values: mask)]
        if hasTokenTypes { feeds["token_type_ids"] = try Tensor(shape: [rows, length], values: [Int64](repeating: 0, count: cells)) }
        guard let hidden = try session.run(feeds)[output] else { throw OpenAIError.badRequest("the model gave no '\(output)'", param: "model") }
        let h = try hidden.values(Float.self)
        var out: [[Float]] = []
        switch hidden.shape.count {
        case 3 where hidden.shape[0] == rows && hidden.shape[1] == length:
            let dim = hidden.shape[2]
            for r in 0..<rows {
                var v = [Double](repeating: 0, count: dim)
                let n = batch[r].count
                for c in 0..<n {
                    let base = (r * length + c) * dim
                    for d in 0..<dim { v[d] += Double(h[base + d]) }
                }
                out.append(v.map { Float($0 / Double(max(n, 1))) })
            }
        case 2 where hidden.shape[0] == rows:
            let dim = hidden.shape[1]
            for r in 0..<rows { out.append(Array(h[(r * dim)..<((r + 1) * dim)])) }
        default:
            throw OpenAIError.badRequest("the model's output '\(output)' has shape \(hidden.shape), not [batch, tokens, dim] or [batch, dim]", param: "model")
        }
        guard normalize else { return out }
        return out.map { v in
            let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return norm > 0 ? v.map { Float(Double($0) / norm) } : v
        }
    }
}
