import BerthProtocol
import BerthTensor
import Foundation

/// Triton's classification extension: an output requested with `classification: N` (tritonclient's
/// `class_count`) is answered as BYTES strings "score:index" or "score:index:label", the N highest
/// scores of each row (shape [rows, N], or [N] for a model that does not batch), scores printed
/// as Triton prints them (C's `%f`). Labels come from the output's `label_filename` in
/// config.pbtxt, one label per line; an index past the file's end has no label.
extension Servable {
    /// `outputs` with every output `requested` asks to classify replaced by its classes.
    func classify(_ outputs: [String: Tensor], requested: [V2InferenceRequest.RequestedOutput]) throws -> [String: Tensor] {
        var out = outputs
        for r in requested {
            guard let k = r.classCount, let t = outputs[r.name] else { continue }
            out[r.name] = try Self.classes(t, count: k, batched: maxBatchSize > 0, labels: labels[r.name], name: r.name)
        }
        return out
    }

    /// The top-`count` classes of each row of `t` (dim 0 is the batch when `batched`). Equal
    /// scores keep index order.
    static func classes(_ t: Tensor, count: Int, batched: Bool, labels: [String]?, name: String) throws -> Tensor {
        guard t.dtype != .string, t.dtype != .bool else {
            throw ServerError.badRequest("output '\(name)': classification needs a numeric output, it is \(t.dtype.v2Name)")
        }
        let rows = batched && t.rank >= 1 ? t.shape[0] : 1
        let perRow = rows == 0 ? 0 : t.count / rows
        let k = min(count, perRow)
        var strings: [String] = []
        strings.reserveCapacity(rows * k)
        for row in 0..<rows {
            let base = row * perRow
            let scores = (0..<perRow).map { t.storage.double(at: base + $0) }
            let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
            for i in order.prefix(k) {
                var s = String(format: "%f", scores[i]) + ":" + String(i)
                if let labels, i < labels.count { s += ":" + labels[i] }
                strings.append(s)
            }
        }
        return try Tensor(shape: batched && t.rank >= 1 ? [rows, k] : [k], storage: .string(strings))
    }

    /// The label files of a config's outputs, read once at load (output name → labels).
    static func readLabels(_ config: ModelConfig) throws -> [String: [String]] {
        var labels: [String: [String]] = [:]
        for o in config.outputs {
            guard let url = o.labelFile else { continue }
            let text: String
            do { text = try String(contentsOf: url, encoding: .utf8) } catch {
                throw ServerError.badRequest("config.pbtxt: output '\(o.name)' label_filename \(url.lastPathComponent): \(error.localizedDescription)")
            }
            var lines = text.components(separatedBy: "\n").map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
            if lines.last == "" { lines.removeLast() }
            labels[o.name] = lines
        }
        return labels
    }
}
