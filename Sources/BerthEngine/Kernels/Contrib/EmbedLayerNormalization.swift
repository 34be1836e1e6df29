import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// EmbedLayerNormalization (BERT's embedding block as ORT's optimizer fuses it): word,
    /// position (input `position_ids`, else 0…S-1) and optional segment embeddings summed,
    /// layer-normalized over H with gamma (+ beta). Outputs: output [B, S, H], mask_index [B]
    /// (int32: the count of non-zero mask entries per row, 0 without a mask) and the sum before
    /// normalization. Ids outside their table are an error.
    mutating func registerContribEmbedLayerNormalization() {
        register("EmbedLayerNormalization", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let epsilon = Double(try node.float("epsilon", default: 1e-12))
            return { inputs, _ in
                let ids = try inputs.required(0), word = try inputs.required(2), position = try inputs.required(3)
                let gamma = try inputs.required(5)
                guard ids.rank == 2, word.rank == 2, position.rank == 2, word.shape[1] == position.shape[1] else {
                    throw KernelError("EmbedLayerNormalization needs input_ids [B, S] and embeddings [V, H], [P, H], got \(ids.shape), \(word.shape), \(position.shape)")
                }
                let (b, s, h) = (ids.shape[0], ids.shape[1], word.shape[1])
                let wv = try contribFloats(word, "word_embedding"), pv = try contribFloats(position, "position_embedding")
                let g = try contribFloats(gamma, "gamma"), be = try inputs.optional(6).map { try contribFloats($0, "beta") }
                guard g.count == h, be.map({ $0.count == h }) ?? true else { throw KernelError("EmbedLayerNormalization gamma and beta must be [\(h)]") }
                let idv = try ids.integers()
                func lookup(_ t: Tensor?, _ what: String) throws -> [Int]? {
                    guard let t else { return nil }
                    guard t.shape == [b, s] || (what == "position_ids" && t.shape == [1, s]) else {
                        throw KernelError("EmbedLayerNormalization \(what) must be [\(b), \(s)], got \(t.shape)")
                    }
                    return try t.integers()
                }
                let segIds = try lookup(inputs.optional(1), "segment_ids"), mask = try lookup(inputs.optional(7), "mask")
                let posIds = try lookup(inputs.optional(8), "position_ids")
                var segTable: [Float]?, segRows = 0
                if let seg = inputs.optional(4) {
                    guard seg.rank == 2, seg.shape[1] == h else { throw KernelError("EmbedLayerNormalization segment_embedding must be [n, \(h)], got \(seg.shape)") }
                    segTable = try contribFloats(seg, "segment_embedding")
                    segRows = seg.shape[0]
                }
                let count = try TensorFamily.count([b, s, h])
                var out = [Float](repeating: 0, count: count), sum = out
                for bi in 0..<b {
                    for si in 0..<s {
                        let k = bi * s + si
                        let w = idv[k]
                        let p = posIds.map { $0.count == s ? $0[si] : $0[k] } ?? si
                        guard w >= 0, w < word.shape[0] else { throw KernelError("EmbedLayerNormalization input id \(w) is outside [0, \(word.shape[0]))") }
                        guard p >= 0, p < position.shape[0] else { throw KernelError("EmbedLayerNormalization position \(p) is outside [0, \(position.shape[0]))") }
                        var segment = -1
                        if let segIds, segTable != nil {
                            segment = segIds[k]
                            guard segment >= 0, segment < segRows else { throw KernelError("EmbedLayerNormalization segment id \(segment) is outside [0, \(segRows))") }
                        }
                        var mean = 0.0
                        for j in 0..<h {
                            var e = wv[w * h + j] + pv[p * h + j]
                            if segment >= 0, let segTable { e += segTable[segment * h + j] }
                            sum[k * h + j] = e
                            mean += Double(e)
                        }
                        mean /= Double(h)
                        var variance = 0.0
                        for j in 0..<h { let d = Double(sum[k * h + j]) - mean; variance += d * d }
                        let inv = 1 / (variance / Double(h) + epsilon).squareRoot()
                        for j in 0..<h { out[k * h + j] = Float((Double(sum[k * h + j]) - mean) * inv) * g[j] + (be?[j] ?? 0) }
                    }
                }
                let maskIndex = (0..<b).map { bi in Int32(mask.map { m in (0..<s).filter { m[bi * s + $0] != 0 }.count } ?? 0) }
                return [Tensor(unchecked: [b, s, h], storage: .float32(out)), Tensor(unchecked: [b], storage: .int32(maskIndex)),
                        Tensor(unchecked: [b, s, h], storage: .float32(sum))]
            }
        }
    }
}
