import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// MultiHeadAttention (com.microsoft) with separate 3-D query [B, S, D], key [B, L, D] and
    /// value [B, L, Dv] (the form ORT's fusions write for cross- and self-attention without a
    /// KV cache): optional bias [D + D + Dv] added to Q, K, V; key_padding_mask [B] (valid key
    /// count) or [B, L] (0 masks a key); attention_bias [B or 1, N, S, L]; `unidirectional`
    /// masks future keys. Masked logits get `mask_filter_value` added. Output [B, S, Dv], and
    /// present_key / present_value [B, N, L, H] when asked. Packed QKV, 4-D key/value and past
    /// state are refused with an error.
    mutating func registerContribMultiHeadAttention() {
        register("MultiHeadAttention", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let heads = try node.int("num_heads")
            guard heads > 0 else { throw KernelError("MultiHeadAttention num_heads must be positive, got \(heads)") }
            let maskFilter = try node.float("mask_filter_value", default: -10000)
            let scaleAttr = try node.float("scale", default: 0)
            let causal = try node.int("unidirectional", default: 0) != 0
            return { inputs, _ in
                let q = try inputs.required(0)
                guard let k = inputs.optional(1), let v = inputs.optional(2), q.rank == 3, k.rank == 3, v.rank == 3 else {
                    throw KernelError("MultiHeadAttention supports 3-D query, key and value only (no packed or 4-D forms)")
                }
                guard inputs.optional(6) == nil, inputs.optional(7) == nil else { throw KernelError("MultiHeadAttention with past state is not supported") }
                let (b, s, d) = (q.shape[0], q.shape[1], q.shape[2])
                let (l, dv) = (k.shape[1], v.shape[2])
                guard k.shape == [b, l, d], v.shape[0] == b, v.shape[1] == l, d % heads == 0, dv % heads == 0 else {
                    throw KernelError("MultiHeadAttention query \(q.shape), key \(k.shape), value \(v.shape) do not agree over \(heads) heads")
                }
                let h = d / heads, hv = dv / heads
                let scale = scaleAttr != 0 ? scaleAttr : 1 / Float(h).squareRoot()
                var qv = try contribFloats(q, "query"), kv = try contribFloats(k, "key"), vv = try contribFloats(v, "value")
                if let bias = inputs.optional(3) {
                    let bv = try contribFloats(bias, "bias")
                    guard bv.count == 2 * d + dv else { throw KernelError("MultiHeadAttention bias must have \(2 * d + dv) elements, got \(bias.shape)") }
                    for i in qv.indices { qv[i] += bv[i % d] }
                    for i in kv.indices { kv[i] += bv[d + i % d] }
                    for i in vv.indices { vv[i] += bv[2 * d + i % dv] }
                }
                var keyValid: (Int, Int) -> Bool = { _, _ in true }
                if let mask = inputs.optional(4) {
                    let m = try mask.integers()
                    if mask.shape == [b] { keyValid = { bi, j in j < m[bi] } }
                    else if mask.shape == [b, l] { keyValid = { bi, j in m[bi * l + j] != 0 } }
                    else { throw KernelError("MultiHeadAttention key_padding_mask must be [\(b)] or [\(b), \(l)], got \(mask.shape)") }
                }
                var relBias: [Float]?, relBatch = 1
                if let ab = inputs.optional(5) {
                    guard ab.rank == 4, ab.shape[0] == 1 || ab.shape[0] == b, ab.shape[1] == heads, ab.shape[2] == s, ab.shape[3] == l else {
                        throw KernelError("MultiHeadAttention attention_bias must be [B or 1, \(heads), \(s), \(l)], got \(ab.shape)")
                    }
                    relBias = try contribFloats(ab, "attention_bias")
                    relBatch = ab.shape[0]
                }
                var out = [Float](repeating: 0, count: try TensorFamily.count([b, s, dv]))
                var row = [Float](repeating: 0, count: l)
                for bi in 0..<b {
                    for n in 0..<heads {
                        for i in 0..<s {
                            var m = -Float.infinity
                            for j in 0..<l {
                                var dot: Float = 0
                                for c in 0..<h { dot += qv[(bi * s + i) * d + n * h + c] * kv[(bi * l + j) * d + n * h + c] }
                                var x = dot * scale
                                if !keyValid(bi, j) { x += maskFilter }
                                if causal && j > i + (l - s) { x += maskFilter }
                                if let relBias { x += relBias[(((relBatch == 1 ? 0 : bi) * heads + n) * s + i) * l + j] }
                                row[j] = x
                                m = max(m, x)
                            }
                            var sum: Float = 0
                            for j in 0..<l { row[j] = exp(row[j] - m); sum += row[j] }
                            for c in 0..<hv {
                                var acc: Float = 0
                                for j in 0..<l { acc += row[j] * vv[(bi * l + j) * dv + n * hv + c] }
                                out[(bi * s + i) * dv + n * hv + c] = acc / sum
                            }
                        }
                    }
                }
                // present_key / present_value: [B, N, L, H] (keys and values after the bias).
                func present(_ src: [Float], width: Int, head: Int) -> Tensor {
                    var p = [Float](repeating: 0, count: b * heads * l * head)
                    for bi in 0..<b { for n in 0..<heads { for j in 0..<l { for c in 0..<head {
                        p[((bi * heads + n) * l + j) * head + c] = src[(bi * l + j) * width + n * head + c]
                    } } } }
                    return Tensor(unchecked: [b, heads, l, head], storage: .float32(p))
                }
                return [Tensor(unchecked: [b, s, dv], storage: .float32(out)), present(kv, width: d, head: h), present(vv, width: dv, head: hv)]
            }
        }
    }
}
