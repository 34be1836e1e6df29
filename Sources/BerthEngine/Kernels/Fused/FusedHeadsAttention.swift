import BerthONNX
import BerthTensor

/// The multi-head self-attention block that `AttentionFusion` writes, computed per (batch, head)
/// straight from the projections' row-major layout — the head split and merge are strides of the
/// GEMMs, not Transpose copies:
///
///     inputs: Q, K, V (float), each reshaped by its attribute to [B, S, H, D] (K, V: [B, L, H, D / Dv]);
///             optional M (float, broadcastable to [B, H, S, L]) added to the scaled scores
///     attributes: q_shape, k_shape, v_shape (the Reshape targets of the original graph, with its
///                 0 / -1 conventions), out_shape (the merge Reshape's target), scale
///     output: softmax(scale · Q_h K_hᵀ + M) V_h for every batch and head, laid out [B, S, H, Dv] and
///             reshaped to out_shape
///
/// Every product and the softmax run in float32 in the unfused graph's order (scale applied to
/// the sum, max subtracted before exp), so results match it up to the GEMM's summation order.
extension KernelRegistry {
    mutating func registerFusedHeadsAttention() {
        register("HeadsAttention", domain: FusedOps.domain, opsets: 0...Int.max) { node, _ in
            guard let qShape = try node.ints("q_shape"), let kShape = try node.ints("k_shape"), let vShape = try node.ints("v_shape"),
                  let outShape = try node.ints("out_shape"), qShape.count == 4, kShape.count == 4, vShape.count == 4 else {
                throw KernelError("HeadsAttention needs 4-D q_shape, k_shape, v_shape and an out_shape")
            }
            let scale = try node.float("scale", default: 1)
            return { inputs, ctx in
                [try headsAttention(q: try inputs.required(0), k: try inputs.required(1), v: try inputs.required(2),
                                    mask: inputs.optional(3), qShape: qShape, kShape: kShape, vShape: vShape, outShape: outShape, scale: scale, pool: ctx.pool)]
            }
        }
    }
}

/// See ``KernelRegistry/registerFusedHeadsAttention()``.
func headsAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor? = nil, qShape: [Int], kShape: [Int], vShape: [Int], outShape: [Int],
                    scale: Float, pool: ThreadPool) throws -> Tensor {
    guard q.dtype == .float32, k.dtype == .float32, v.dtype == .float32 else {
        throw KernelError("HeadsAttention needs float inputs, got \(q.dtype), \(k.dtype), \(v.dtype)")
    }
    let q4 = try TensorFamily.reshapeTarget(input: q.shape, requested: qShape, allowZero: false)
    let k4 = try TensorFamily.reshapeTarget(input: k.shape, requested: kShape, allowZero: false)
    let v4 = try TensorFamily.reshapeTarget(input: v.shape, requested: vShape, allowZero: false)
    let (s, d) = (q4[1], q4[3])
    let (l, dv) = (k4[1], v4[3])
    // A batch or head count of 1 broadcasts against the others', as in the unfused MatMuls
    // (multi-query attention: one key/value head for every query head).
    func broadcast(_ dims: [Int]) -> Int? {
        let n = dims.max() ?? 1
        return dims.allSatisfy { $0 == n || $0 == 1 } ? n : nil
    }
    guard let b = broadcast([q4[0], k4[0], v4[0]]), let heads = broadcast([q4[2], k4[2], v4[2]]), k4[3] == d, v4[1] == l else {
        throw KernelError("HeadsAttention: query \(q4), key \(k4) and value \(v4) heads do not agree")
    }
    let out = try TensorFamily.reshapeTarget(input: [b, s, heads, dv], requested: outShape, allowZero: false)
    // The mask's element strides over [B, H, S, L] (0 along a broadcast dimension).
    var maskStrides = [0, 0, 0, 0]
    let mv = try mask.map { try contribFloats($0, "HeadsAttention mask") } ?? []
    if let mask {
        let full = [b, heads, s, l]
        guard mask.rank <= 4 else { throw KernelError("HeadsAttention mask \(mask.shape) does not broadcast to \(full)") }
        let dims = [Int](repeating: 1, count: 4 - mask.rank) + mask.shape
        var size = 1
        for i in (0..<4).reversed() {
            guard dims[i] == full[i] || dims[i] == 1 else { throw KernelError("HeadsAttention mask \(mask.shape) does not broadcast to \(full)") }
            maskStrides[i] = dims[i] == 1 ? 0 : size
            size *= dims[i]
        }
    }
    let total = try Shape.elementCount([b, s, heads, dv])
    let scoresCount = try Shape.elementCount([s, l])
    guard total > 0 else { return Tensor(unchecked: out, storage: .float32([])) }
    let qv = q.floats, kv = k.floats, vv = v.floats
    // Row strides of Q, K, V in their own head counts; the output's rows hold every head.
    let qRow = q4[2] * d, kRow = k4[2] * d, vRow = v4[2] * dv, oRow = heads * dv
    // Rows r0..<r1 of one (batch, head): scores[rows, L] = scale · Q_h · K_hᵀ, softmax, out = P · V_h.
    func attend(_ qp: UnsafePointer<Float>, _ kp: UnsafePointer<Float>, _ vp: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>,
                _ p: UnsafeMutablePointer<Float>, bi: Int, h: Int, rows r0: Int, _ r1: Int, serial: Bool) {
        let qh = qp + (q4[0] == 1 ? 0 : bi) * s * qRow + (q4[2] == 1 ? 0 : h) * d + r0 * qRow
        let kh = kp + (k4[0] == 1 ? 0 : bi) * l * kRow + (k4[2] == 1 ? 0 : h) * d
        let vh = vp + (v4[0] == 1 ? 0 : bi) * l * vRow + (v4[2] == 1 ? 0 : h) * dv
        let rows = r1 - r0
        // Rows of Q_h and K_h are strided by the head row.
        BLAS.sgemm(transA: false, transB: true, m: rows, n: l, k: d, alpha: scale, a: qh, lda: qRow,
                   b: kh, ldb: kRow, beta: 0, c: p, ldc: l, serial: serial)
        func softmax(_ range: Range<Int>) {
            for r in range {
                let row = p + r * l
                if !mv.isEmpty {
                    let base = bi * maskStrides[0] + h * maskStrides[1] + (r0 + r) * maskStrides[2], step = maskStrides[3]
                    mv.withUnsafeBufferPointer { mp in for j in 0..<l { row[j] += mp[base + j * step] } }
                }
                nnSoftmaxRow(row, row, count: l)
            }
        }
        if serial { softmax(0..<rows) } else { pool.parallelFor(rows, minChunk: max(1, 8192 / l)) { softmax($0) } }
        // out[:, h, :] = P · V_h, written into the merged [B, S, H·Dv] rows.
        BLAS.sgemm(transA: false, transB: false, m: rows, n: dv, k: l, alpha: 1, a: p, lda: l,
                   b: vh, ldb: vRow, beta: 0, c: o + bi * s * oRow + r0 * oRow + h * dv, ldc: oRow, serial: serial)
    }
    // Several threads: (batch, head, row block) pieces, each on one thread with its own scores,
    // taken by whichever pool thread is free (BLAS.sgemm would otherwise split each small product).
    let pairs = b * heads
    let rowBlocks = pool.threads > 1 && BLAS.pool != nil ? max(1, min(s / 16, (2 * pool.threads + pairs - 1) / pairs)) : 0
    let y = [Float](unsafeUninitializedCapacity: total) { ob, initialized in
        let o = ob.baseAddress!
        if l == 0 {
            // No keys: every product is an empty sum.
            o.initialize(repeating: 0, count: total)
            initialized = total
            return
        }
        qv.withUnsafeBufferPointer { qp in
            kv.withUnsafeBufferPointer { kp in
                vv.withUnsafeBufferPointer { vp in
                    if rowBlocks > 0 {
                        pool.forEachIndex(pairs * rowBlocks) { t in
                            let pair = t / rowBlocks, blk = t % rowBlocks
                            let r0 = s * blk / rowBlocks, r1 = s * (blk + 1) / rowBlocks
                            guard r1 > r0 else { return }
                            let p = UnsafeMutablePointer<Float>.allocate(capacity: (r1 - r0) * l)
                            defer { p.deallocate() }
                            attend(qp.baseAddress!, kp.baseAddress!, vp.baseAddress!, o, p, bi: pair / heads, h: pair % heads,
                                   rows: r0, r1, serial: true)
                        }
                    } else {
                        var scores = [Float](repeating: 0, count: scoresCount)
                        scores.withUnsafeMutableBufferPointer { sp in
                            for bi in 0..<b {
                                for h in 0..<heads {
                                    attend(qp.baseAddress!, kp.baseAddress!, vp.baseAddress!, o, sp.baseAddress!, bi: bi, h: h,
                                           rows: 0, s, serial: false)
                                }
                            }
                        }
                    }
                }
            }
        }
        initialized = total
    }
    return Tensor(unchecked: out, storage: .float32(y))
}
