import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// Attention (com.microsoft, the multi-head self-attention ORT's transformer optimizer
    /// writes): QKV = input [B, S, D] @ weights [D, Dq + Dk + Dv] (+ bias); per head,
    /// softmax(Q·Kᵀ · scale + mask + attention_bias) · V; output [B, S, Dv], and `present`
    /// [2, B, N, S, H] (keys, values) when asked. Masks: mask_index [B] (keys from the given
    /// length on are masked), [B, T] (0 masks a key), [B, S, T]; `unidirectional` masks future
    /// keys. Masked logits get `mask_filter_value` (default -10000) added, as in ORT. Not
    /// supported (a clear error): `past` state, rotary embeddings, and [2B] / 4-D masks.
    mutating func registerContribAttention() {
        register("Attention", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let heads = try node.int("num_heads")
            guard heads > 0 else { throw KernelError("Attention num_heads must be positive, got \(heads)") }
            let unidirectional = try node.int("unidirectional", default: 0) != 0
            let sizes = try node.ints("qkv_hidden_sizes")
            let maskFilter = try node.float("mask_filter_value", default: -10000)
            let scaleAttr = try node.float("scale", default: 0)
            guard try node.int("do_rotary", default: 0) == 0 else { throw KernelError("Attention with do_rotary is not supported") }
            return { inputs, ctx in
                let x = try inputs.required(0), w = try inputs.required(1)
                guard inputs.optional(4) == nil else { throw KernelError("Attention with past state is not supported") }
                guard x.rank == 3, w.rank == 2, x.shape[2] == w.shape[0] else {
                    throw KernelError("Attention needs input [B, S, D] and weights [D, 3·hidden], got \(x.shape) and \(w.shape)")
                }
                let (b, s, d) = (x.shape[0], x.shape[1], x.shape[2])
                let total = w.shape[1]
                let (dq, dk, dv) = sizes.map { ($0.count == 3 ? ($0[0], $0[1], $0[2]) : (-1, -1, -1)) } ?? (total / 3, total / 3, total / 3)
                guard dq > 0, dq == dk, dv > 0, dq + dk + dv == total, dq % heads == 0, dv % heads == 0 else {
                    throw KernelError("Attention weights [\(d), \(total)] do not split into Q, K, V (qkv_hidden_sizes \(sizes ?? [])) over \(heads) heads")
                }
                let h = dq / heads, hv = dv / heads
                let scale = scaleAttr != 0 ? scaleAttr : 1 / Float(h).squareRoot()
                let xv = try contribFloats(x, "input"), wv = try contribFloats(w, "weights")
                let rows = b * s
                // qkv [B·S, total], seeded with the bias.
                var qkv = [Float](repeating: 0, count: try TensorFamily.count([rows, total]))
                if let bias = inputs.optional(2) {
                    let bv = try contribFloats(bias, "bias")
                    guard bv.count == total else { throw KernelError("Attention bias must have \(total) elements, got \(bias.shape)") }
                    for r in 0..<rows { for c in 0..<total { qkv[r * total + c] = bv[c] } }
                }
                if rows > 0 && d > 0 {
                    xv.withUnsafeBufferPointer { xp in wv.withUnsafeBufferPointer { wp in qkv.withUnsafeMutableBufferPointer { op in
                        BLAS.sgemm(transA: false, transB: false, m: rows, n: total, k: d, alpha: 1, a: xp.baseAddress!, lda: d,
                                   b: wp.baseAddress!, ldb: total, beta: 1, c: op.baseAddress!, ldc: total)
                    } } }
                }
                // Additive mask [B, S, T] (T = S without past).
                let mask = try attentionMask(inputs.optional(3), b: b, s: s, filter: maskFilter, causal: unidirectional)
                var relBias: [Float]?, relBatch = 1
                if let ab = inputs.optional(5) {
                    guard ab.rank == 4, ab.shape[0] == 1 || ab.shape[0] == b, ab.shape[1] == heads, ab.shape[2] == s, ab.shape[3] == s else {
                        throw KernelError("Attention attention_bias must be [B or 1, \(heads), \(s), \(s)], got \(ab.shape)")
                    }
                    relBias = try contribFloats(ab, "attention_bias")
                    relBatch = ab.shape[0]
                }
                var out = [Float](repeating: 0, count: rows * dv)
                var scores = [Float](repeating: 0, count: s * s)
                for bi in 0..<b {
                    for n in 0..<heads {
                        let base = bi * s * total
                        qkv.withUnsafeBufferPointer { p in
                            scores.withUnsafeMutableBufferPointer { sp in
                                // scores[S, T] = Q_h [S, h] · K_h [T, h]ᵀ · scale
                                BLAS.sgemm(transA: false, transB: true, m: s, n: s, k: h, alpha: scale,
                                           a: p.baseAddress! + base + n * h, lda: total,
                                           b: p.baseAddress! + base + dq + n * h, ldb: total, beta: 0, c: sp.baseAddress!, ldc: s)
                            }
                        }
                        for i in 0..<s {
                            var m = -Float.infinity
                            for j in 0..<s {
                                var v = scores[i * s + j]
                                if let mask { v += mask[(bi * s + i) * s + j] }
                                if let relBias { v += relBias[(((relBatch == 1 ? 0 : bi) * heads + n) * s + i) * s + j] }
                                scores[i * s + j] = v
                                m = max(m, v)
                            }
                            var sum: Float = 0
                            for j in 0..<s { let e = exp(scores[i * s + j] - m); scores[i * s + j] = e; sum += e }
                            for j in 0..<s { scores[i * s + j] /= sum }
                        }
                        qkv.withUnsafeBufferPointer { p in
                            scores.withUnsafeBufferPointer { sp in
                                out.withUnsafeMutableBufferPointer { op in
                                    // out[S, hv] (head n's columns) = P [S, T] · V_h [T, hv]
                                    BLAS.sgemm(transA: false, transB: false, m: s, n: hv, k: s, alpha: 1, a: sp.baseAddress!, lda: s,
                                               b: p.baseAddress! + base + dq + dk + n * hv, ldb: total, beta: 0,
                                               c: op.baseAddress! + bi * s * dv + n * hv, ldc: dv)
                                }
                            }
                        }
                    }
                }
                var present = [Float](repeating: 0, count: 2 * b * heads * s * h)
                if dk == dv {
                    for kind in 0..<2 {
                        for bi in 0..<b { for n in 0..<heads { for t in 0..<s { for c in 0..<h {
                            present[(((kind * b + bi) * heads + n) * s + t) * h + c] = qkv[(bi * s + t) * total + dq + kind * dk + n * h + c]
                        } } } }
                    }
                }
                _ = ctx
                return [Tensor(unchecked: [b, s, dv], storage: .float32(out)),
                        Tensor(unchecked: [2, b, heads, s, h], storage: .float32(present))]
            }
        }
    }
}

/// The additive [B, S, T] mask for Attention's `mask_index` and `unidirectional`, or nil.
private func attentionMask(_ maskIndex: Tensor?, b: Int, s: Int, filter: Float, causal: Bool) throws -> [Float]? {
    guard maskIndex != nil || causal else { return nil }
    var mask = [Float](repeating: 0, count: b * s * s)
    if let mi = maskIndex {
        guard mi.dtype == .int32 || mi.dtype == .int64 else { throw KernelError("Attention mask_index must be int32, got \(mi.dtype)") }
        let v = try mi.integers()
        switch mi.shape {
        case [b]:
            // Right padding: keys at or after the given length are masked.
            for bi in 0..<b { for i in 0..<s { for j in 0..<s where j >= v[bi] { mask[(bi * s + i) * s + j] = filter } } }
        case [b, s]:
            for bi in 0..<b { for i in 0..<s { for j in 0..<s where v[bi * s + j] == 0 { mask[(bi * s + i) * s + j] = filter } } }
        case [b, s, s]:
            for k in 0..<(b * s * s) where v[k] == 0 { mask[k] = filter }
        default:
            throw KernelError("Attention mask_index shape \(mi.shape) is not supported ([B], [B, T] or [B, S, T])")
        }
    }
    if causal {
        for bi in 0..<b { for i in 0..<s { for j in (i + 1)..<max(i + 1, s) { mask[(bi * s + i) * s + j] += filter } } }
    }
    return mask
}
