import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// GroupQueryAttention (com.microsoft), the causal self-attention with a KV cache that ORT
    /// GenAI's model builder writes, following ORT's CPU kernel: query [B, S, N·H] with key and
    /// value [B, S, Nkv·H], or packed QKV [B, S, (N + 2·Nkv)·H] when key and value are absent;
    /// past_key / past_value [B, Nkv, P, H] (BNSH); seqlens_k int32 [B] (each row's total length
    /// − 1); total_sequence_length (int32 scalar); optional cos_cache / sin_cache [max_pos, R/2]
    /// with `do_rotary` (first R features of each Q and new K head, halves or `rotary_interleaved`
    /// neighbours). Query head n reads KV head n / (N / Nkv). `local_window_size` keeps the last
    /// window keys, the current one included (as ORT 1.32's CPU kernel does); `softcap` squashes
    /// logits as c·tanh(x / c); `smooth_softmax` adds a zero logit to the softmax. Outputs: output [B, S, N·H], present_key / present_value
    /// [B, Nkv, max(total, P), H]: each row's first `past` keys from past_key, then the S new
    /// ones, zeros after. First prompt (S = total): every row starts at position 0 and may be
    /// right-padded (its seqlens_k + 1 ≤ S); later steps: past = seqlens_k + 1 − S.
    /// `position_ids` int64 [B, S] give the rotary positions of a step after the first prompt
    /// (ORT 1.32's CPU kernel ignores them in the first prompt, and so does this one);
    /// `attention_bias` [B or 1, N or 1, S, total] is added to the scores after softcap, before the
    /// softmax (as ORT 1.32's CPU kernel does; both checked against it). float32 only; head_sink,
    /// quantized caches, query_seqlens, q/k norms, `causal` = 0, `sliding_window_cache` and
    /// `qk_output` are refused with an error.
    mutating func registerContribGroupQueryAttention() {
        register("GroupQueryAttention", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let heads = try node.int("num_heads"), kvHeads = try node.int("kv_num_heads")
            guard heads > 0, kvHeads > 0, heads % kvHeads == 0 else {
                throw KernelError("GroupQueryAttention needs num_heads a positive multiple of kv_num_heads > 0, got \(heads) and \(kvHeads)")
            }
            let scaleAttr = try node.float("scale", default: 0), softcap = try node.float("softcap", default: 0)
            guard scaleAttr.isFinite, softcap.isFinite, softcap >= 0 else {
                throw KernelError("GroupQueryAttention scale and softcap must be finite (softcap ≥ 0), got \(scaleAttr) and \(softcap)")
            }
            let rotary = try node.int("do_rotary", default: 0) != 0
            let interleaved = try node.int("rotary_interleaved", default: 0) != 0
            let window = try node.int("local_window_size", default: -1)
            let smooth = try node.int("smooth_softmax", default: 0) != 0
            guard try node.int("causal", default: 1) == 1 else { throw KernelError("GroupQueryAttention with causal = 0 is not supported") }
            guard try node.int("sliding_window_cache", default: 0) == 0, try node.int("qk_output", default: 0) == 0 else {
                throw KernelError("GroupQueryAttention with sliding_window_cache or qk_output is not supported")
            }
            return { inputs, _ in
                for (i, what) in [(11, "head_sink"), (12, "k_scale"), (13, "v_scale"),
                                  (14, "q_norm_weight"), (15, "k_norm_weight"), (16, "query_seqlens")] where inputs.optional(i) != nil {
                    throw KernelError("GroupQueryAttention input \(what) is not supported")
                }
                let query = try inputs.required(0)
                guard query.rank == 3 else { throw KernelError("GroupQueryAttention query must be [B, S, D], got \(query.shape)") }
                let (b, s, d) = (query.shape[0], query.shape[1], query.shape[2])
                let key = inputs.optional(1), value = inputs.optional(2)
                let packed = key == nil
                guard (key == nil) == (value == nil) else { throw KernelError("GroupQueryAttention key and value must both be given or both absent (packed QKV)") }
                // Head size from the query's width.
                let qHeads = packed ? heads + 2 * kvHeads : heads
                guard d > 0, d % qHeads == 0 else {
                    throw KernelError("GroupQueryAttention query width \(d) does not split into \(qHeads) heads\(packed ? " (packed QKV: num_heads + 2·kv_num_heads)" : "")")
                }
                let h = d / qHeads, kvWidth = kvHeads * h, qWidth = heads * h
                let q = try contribFloats(query, "GroupQueryAttention query")
                // newK / newV [B, S, Nkv·H] rows, read through a stride.
                let kSrc: [Float], vSrc: [Float], kvStride: Int, kOff: Int, vOff: Int
                if let key, let value {
                    guard key.shape == [b, s, kvWidth], value.shape == [b, s, kvWidth] else {
                        throw KernelError("GroupQueryAttention key and value must be [\(b), \(s), \(kvWidth)] (kv_num_heads \(kvHeads) × head size \(h)), got \(key.shape) and \(value.shape)")
                    }
                    (kSrc, vSrc) = (try contribFloats(key, "GroupQueryAttention key"), try contribFloats(value, "GroupQueryAttention value"))
                    (kvStride, kOff, vOff) = (kvWidth, 0, 0)
                } else {
                    (kSrc, vSrc, kvStride, kOff, vOff) = (q, q, d, qWidth, qWidth + kvWidth)
                }
                // Past state.
                let pastK = inputs.optional(3), pastV = inputs.optional(4)
                guard (pastK == nil) == (pastV == nil) else { throw KernelError("GroupQueryAttention past_key and past_value must both be given or both absent") }
                var pastLen = 0
                var pk: [Float] = [], pv: [Float] = []
                if let pastK, let pastV {
                    guard pastK.rank == 4, pastK.shape == pastV.shape, pastK.shape[0] == b, pastK.shape[1] == kvHeads, pastK.shape[3] == h else {
                        throw KernelError("GroupQueryAttention past_key and past_value must be equal [\(b), \(kvHeads), P, \(h)], got \(pastK.shape) and \(pastV.shape)")
                    }
                    pastLen = pastK.shape[2]
                    (pk, pv) = (try contribFloats(pastK, "GroupQueryAttention past_key"), try contribFloats(pastV, "GroupQueryAttention past_value"))
                }
                // seqlens_k and total_sequence_length.
                let seqT = try inputs.required(5), totalT = try inputs.required(6)
                guard seqT.dtype == .int32, seqT.shape == [b] else { throw KernelError("GroupQueryAttention seqlens_k must be int32 [\(b)], got \(seqT.dtype)\(seqT.shape)") }
                guard totalT.dtype == .int32, totalT.shape.reduce(1, *) == 1, totalT.rank <= 1 else {
                    throw KernelError("GroupQueryAttention total_sequence_length must be one int32, got \(totalT.dtype)\(totalT.shape)")
                }
                let seqlens = try seqT.integers(), total = try totalT.integers()[0]
                // The cache cannot grow by more than the new tokens: this bounds present's size by the inputs.
                guard total >= 1, total >= s, total <= pastLen + s else {
                    throw KernelError("GroupQueryAttention total_sequence_length \(total) must lie in [max(1, S = \(s)), past \(pastLen) + S]")
                }
                let presentLen = max(total, pastLen)
                let firstPrompt = s == total
                guard firstPrompt || s == 1 || b == 1 else {
                    throw KernelError("GroupQueryAttention with past context and S = \(s) > 1 needs batch size 1, got \(b)")
                }
                // Per row: tokens already cached (`past`) and the total after this step.
                var past = [Int](repeating: 0, count: b), totals = [Int](repeating: 0, count: b)
                for bi in 0..<b {
                    let t = seqlens[bi] + 1
                    let p = firstPrompt ? 0 : t - s
                    guard t >= 1, t <= presentLen, p >= 0, p <= pastLen, firstPrompt ? t <= s : true else {
                        throw KernelError("GroupQueryAttention seqlens_k[\(bi)] = \(seqlens[bi]) is out of range for S \(s), past length \(pastLen), total_sequence_length \(total)")
                    }
                    (past[bi], totals[bi]) = (p, t)
                }
                // Rotary: cos / sin [max_pos, R/2].
                var rot: (cos: [Float], sin: [Float], half: Int, rows: Int)?
                if rotary {
                    guard let cosT = inputs.optional(7), let sinT = inputs.optional(8) else {
                        throw KernelError("GroupQueryAttention with do_rotary needs cos_cache and sin_cache")
                    }
                    guard cosT.rank == 2, sinT.shape == cosT.shape, cosT.shape[1] > 0, 2 * cosT.shape[1] <= h else {
                        throw KernelError("GroupQueryAttention cos_cache and sin_cache must be equal [max_position, ≤ head size \(h) / 2], got \(cosT.shape) and \(sinT.shape)")
                    }
                    rot = (try contribFloats(cosT, "GroupQueryAttention cos_cache"), try contribFloats(sinT, "GroupQueryAttention sin_cache"),
                           cosT.shape[1], cosT.shape[0])
                }
                // position_ids [B, S] (rotary positions after the first prompt).
                var positionIDs: [Int]?
                if let posT = inputs.optional(9), rot != nil, !firstPrompt {
                    guard posT.dtype == .int64, posT.shape == [b, s] else {
                        throw KernelError("GroupQueryAttention position_ids must be int64 [\(b), \(s)], got \(posT.dtype)\(posT.shape)")
                    }
                    positionIDs = try posT.integers()
                }
                // attention_bias [B or 1, N or 1, S, total], broadcast over batch and heads.
                var bias: (values: [Float], perBatch: Bool, perHead: Bool)?
                if let biasT = inputs.optional(10) {
                    guard biasT.rank == 4, [1, b].contains(biasT.shape[0]), [1, heads].contains(biasT.shape[1]),
                          biasT.shape[2] == s, biasT.shape[3] == total else {
                        throw KernelError("GroupQueryAttention attention_bias must be [\(b) or 1, \(heads) or 1, \(s), \(total)], got \(biasT.shape)")
                    }
                    // Each row's keys index the bias's last axis.
                    guard totals.allSatisfy({ $0 <= total }) else {
                        throw KernelError("GroupQueryAttention with attention_bias needs every seqlens_k + 1 ≤ total_sequence_length \(total), got \(totals)")
                    }
                    bias = (try contribFloats(biasT, "GroupQueryAttention attention_bias"), biasT.shape[0] == b && b > 1, biasT.shape[1] == heads && heads > 1)
                }
                let presentCount = try TensorFamily.count([b, kvHeads, presentLen, h])
                var out = [Float](repeating: 0, count: try TensorFamily.count([b, s, qWidth]))
                var presentK = [Float](repeating: 0, count: presentCount), presentV = presentK
                var qRot = [Float](repeating: 0, count: s * qWidth)
                let group = heads / kvHeads
                let scale = scaleAttr != 0 ? scaleAttr : 1 / Float(h).squareRoot()
                var scores = [Float](repeating: 0, count: max(1, s * presentLen))
                for bi in 0..<b {
                    let (p, t) = (past[bi], totals[bi])
                    // Rotary positions: past + i, padded prompt rows included (ORT 1.32's CPU kernel).
                    func position(_ i: Int) throws -> Int {
                        let pos = positionIDs.map { $0[bi * s + i] } ?? p + i
                        guard pos >= 0 else { throw KernelError("GroupQueryAttention position_ids[\(bi)][\(i)] = \(pos) is negative") }
                        if let rot, pos >= rot.rows { throw KernelError("GroupQueryAttention position \(pos) is outside cos_cache's \(rot.rows) rows") }
                        return pos
                    }
                    func rotate(_ v: inout [Float], _ base: Int, _ pos: Int) {
                        guard let rot else { return }
                        for i in 0..<rot.half {
                            let (c, sn) = (rot.cos[pos * rot.half + i], rot.sin[pos * rot.half + i])
                            let (j1, j2) = interleaved ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + i + rot.half)
                            let (x1, x2) = (v[j1], v[j2])
                            v[j1] = x1 * c - x2 * sn
                            v[j2] = x2 * c + x1 * sn
                        }
                    }
                    // Q rows of this batch row [S, N·H], rotated.
                    for i in 0..<s {
                        let src = (bi * s + i) * d
                        for c in 0..<qWidth { qRot[i * qWidth + c] = q[src + c] }
                        if rot != nil {
                            let pos = try position(i)
                            for n in 0..<heads { rotate(&qRot, i * qWidth + n * h, pos) }
                        }
                    }
                    // present = past rows [0, p) then the S new (rotated) keys and values.
                    for kh in 0..<kvHeads {
                        let dst = (bi * kvHeads + kh) * presentLen * h
                        let srcPast = (bi * kvHeads + kh) * pastLen * h
                        for j in 0..<(p * h) { presentK[dst + j] = pk[srcPast + j]; presentV[dst + j] = pv[srcPast + j] }
                        for i in 0..<s {
                            let row = dst + (p + i) * h, src = (bi * s + i) * kvStride + kh * h
                            for c in 0..<h { presentK[row + c] = kSrc[src + kOff + c]; presentV[row + c] = vSrc[src + vOff + c] }
                            if rot != nil { rotate(&presentK, row, try position(i)) }
                        }
                    }
                    // S = 0: present is the past alone, and there is nothing to attend from.
                    for n in 0..<heads where s > 0 {
                        let kvBase = (bi * kvHeads + n / group) * presentLen * h
                        // scores [S, t] = Q_n [S, H] · K [t, H]ᵀ · scale
                        qRot.withUnsafeBufferPointer { qp in presentK.withUnsafeBufferPointer { kp in scores.withUnsafeMutableBufferPointer { sp in
                            BLAS.sgemm(transA: false, transB: true, m: s, n: t, k: h, alpha: scale, a: qp.baseAddress! + n * h, lda: qWidth,
                                       b: kp.baseAddress! + kvBase, ldb: h, beta: 0, c: sp.baseAddress!, ldc: presentLen)
                        } } }
                        for i in 0..<s {
                            let row = i * presentLen
                            // Causal keys [start, end): a padded prompt row sees only the row's valid keys.
                            let end = min(p + i + 1, t)
                            let start = window > 0 && end > window ? end - window : 0
                            var m: Float = smooth ? 0 : -.infinity
                            let biasRow = bias.map { (( ($0.perBatch ? bi : 0) * ($0.perHead ? heads : 1) + ($0.perHead ? n : 0)) * s + i) * total }
                            for j in start..<end {
                                if softcap > 0 { scores[row + j] = softcap * tanh(scores[row + j] / softcap) }
                                if let bias, let biasRow { scores[row + j] += bias.values[biasRow + j] }
                                m = max(m, scores[row + j])
                            }
                            var sum: Double = smooth ? Double(exp(-m)) : 0
                            for j in start..<end { let e = exp(scores[row + j] - m); scores[row + j] = e; sum += Double(e) }
                            for j in 0..<presentLen { scores[row + j] = j >= start && j < end ? Float(Double(scores[row + j]) / sum) : 0 }
                        }
                        // out[S, H] (head n's columns) = P [S, t] · V [t, H]
                        scores.withUnsafeBufferPointer { sp in presentV.withUnsafeBufferPointer { vp in out.withUnsafeMutableBufferPointer { op in
                            BLAS.sgemm(transA: false, transB: false, m: s, n: h, k: t, alpha: 1, a: sp.baseAddress!, lda: presentLen,
                                       b: vp.baseAddress! + kvBase, ldb: h, beta: 0, c: op.baseAddress! + bi * s * qWidth + n * h, ldc: qWidth)
                        } } }
                    }
                }
                let presentShape = [b, kvHeads, presentLen, h]
                return [Tensor(unchecked: [b, s, qWidth], storage: .float32(out)),
                        Tensor(unchecked: presentShape, storage: .float32(presentK)),
                        Tensor(unchecked: presentShape, storage: .float32(presentV))]
            }
        }
    }
}
