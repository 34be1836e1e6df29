import CGGMLKernels
import Dispatch
import Foundation

/// Tokens of one sequence to run in a forward pass: a prefill chunk or a single decode token.
public struct ForwardChunk: Sendable {
    public let sequence: Int
    public let tokens: [Int]
    /// Position of `tokens[0]`; the cache must already hold the tokens before it.
    public let startPosition: Int
    /// Whether the caller wants the logits after the chunk's last token.
    public let wantLogits: Bool

    public init(sequence: Int, tokens: [Int], startPosition: Int, wantLogits: Bool = true) {
        self.sequence = sequence
        self.tokens = tokens
        self.startPosition = startPosition
        self.wantLogits = wantLogits
    }
}

extension LlamaModel {
    /// Runs every chunk's tokens through the model in one batch (the weights are read once per
    /// batch, not once per sequence), appending their keys and values to `cache`, and returns the
    /// last-token logits of each chunk that wants them. The caller reserves the cache first.
    public func forward(_ chunks: [ForwardChunk], cache: PagedKVCache) throws -> [[Float]?] {
        let c = config
        let d = c.embeddingLength, hd = c.headDim, nq = c.headCount * hd, nkv = kvDim, ff = c.feedForwardLength
        // Flatten: row i is token rowToken[i] of sequence rowSeq[i] at rowPos[i].
        var rowToken: [Int] = [], rowPos: [Int] = [], rowChunk: [Int] = []
        for (ci, ch) in chunks.enumerated() {
            guard cache.length(of: ch.sequence) >= ch.startPosition + ch.tokens.count else {
                throw GenerateError.cacheFull("sequence \(ch.sequence) has no cache reserved for position \(ch.startPosition + ch.tokens.count - 1)")
            }
            for (k, t) in ch.tokens.enumerated() {
                guard t >= 0, t < vocabSize else { throw GenerateError.invalidRequest("token id \(t) is outside the vocabulary (0..<\(vocabSize))") }
                rowToken.append(t); rowPos.append(ch.startPosition + k); rowChunk.append(ci)
            }
        }
        let n = rowToken.count
        guard n > 0 else { return chunks.map { _ in nil } }
        let tables = chunks.map { cache.table($0.sequence) }

        let x = UnsafeMutablePointer<Float>.allocate(capacity: n * d)
        let xn = UnsafeMutablePointer<Float>.allocate(capacity: n * d)
        let q = UnsafeMutablePointer<Float>.allocate(capacity: n * nq)
        let k = UnsafeMutablePointer<Float>.allocate(capacity: n * nkv)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: n * nkv)
        let att = UnsafeMutablePointer<Float>.allocate(capacity: n * nq)
        let g = UnsafeMutablePointer<Float>.allocate(capacity: n * ff)
        let u = UnsafeMutablePointer<Float>.allocate(capacity: n * ff)
        defer { for p in [x, xn, q, k, v, att, g, u] { p.deallocate() } }

        for i in 0..<n { embedding.dequantizeRow(rowToken[i], into: x + i * d) }
        // Each row's rotation angles, once for all heads and layers.
        let rope = RoPE(config: c)
        let angles = UnsafeMutablePointer<Float>.allocate(capacity: n * rope.dims)
        defer { angles.deallocate() }
        for i in 0..<n { rope.angles(position: rowPos[i], into: angles + i * rope.dims) }
        // Per-row work split over the threads in prefill (single-threaded it caps the speed-up).
        let rowParts = n >= 8 ? min(matmul.threads, n) : 1
        func eachRow(_ body: (Int) -> Void) {
            matmul.workers.run(chunks: rowParts) { p in
                for i in (n * p / rowParts)..<(n * (p + 1) / rowParts) { body(i) }
            }
        }
        for (li, layer) in layers.enumerated() {
            eachRow { i in rmsNorm(x + i * d, weight: layer.attnNorm, eps: c.rmsEpsilon, n: d, out: xn + i * d) }
            matmul(layer.wq, xn, ntok: n, out: q)
            matmul(layer.wk, xn, ntok: n, out: k)
            matmul(layer.wv, xn, ntok: n, out: v)
            eachRow { i in
                if let b = layer.bq { addBias(q + i * nq, b) }
                if let b = layer.bk { addBias(k + i * nkv, b) }
                if let b = layer.bv { addBias(v + i * nkv, b) }
                for h in 0..<c.headCount { rope.apply(q + i * nq + h * hd, angles: angles + i * rope.dims) }
                for h in 0..<c.headCountKV { rope.apply(k + i * nkv + h * hd, angles: angles + i * rope.dims) }
                let table = tables[rowChunk[i]]
                cache.storeKeys(table, layer: li, pos: rowPos[i], from: k + i * nkv)
                cache.valueSlot(table, layer: li, pos: rowPos[i]).update(from: v + i * nkv, count: nkv)
            }
            attention(layer: li, n: n, q: q, out: att, rowPos: rowPos, rowTables: rowChunk.map { tables[$0] }, cache: cache)
            matmul(layer.wo, att, ntok: n, out: xn)
            eachRow { i in
                let xi = x + i * d, yi = xn + i * d
                for j in 0..<d { xi[j] += yi[j] }
                rmsNorm(xi, weight: layer.ffnNorm, eps: c.rmsEpsilon, n: d, out: yi)
            }
            matmul(layer.gate, xn, ntok: n, out: g)
            matmul(layer.up, xn, ntok: n, out: u)
            eachRow { i in bk_silu_mul_f32(g + i * ff, u + i * ff, Int64(ff)) }
            matmul(layer.down, g, ntok: n, out: xn)
            eachRow { i in
                let xi = x + i * d, yi = xn + i * d
                for j in 0..<d { xi[j] += yi[j] }
            }
        }
        // Logits only for the rows callers asked for (the last token of each wanting chunk).
        var lastRow: [Int: Int] = [:]
        for i in 0..<n where chunks[rowChunk[i]].wantLogits { lastRow[rowChunk[i]] = i }
        let wanted = lastRow.sorted { $0.key < $1.key }
        guard !wanted.isEmpty else { return chunks.map { _ in nil } }
        let hn = UnsafeMutablePointer<Float>.allocate(capacity: wanted.count * d)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: wanted.count * vocabSize)
        defer { hn.deallocate(); logits.deallocate() }
        for (j, (_, row)) in wanted.enumerated() { rmsNorm(x + row * d, weight: outputNorm, eps: c.rmsEpsilon, n: d, out: hn + j * d) }
        matmul(output, hn, ntok: wanted.count, out: logits)
        var result: [[Float]?] = chunks.map { _ in nil }
        for (j, (ci, _)) in wanted.enumerated() {
            result[ci] = Array(UnsafeBufferPointer(start: logits + j * vocabSize, count: vocabSize))
        }
        return result
    }

    /// Causal grouped-query attention for every row, reading keys and values through the
    /// sequence's block table.
    private func attention(layer: Int, n: Int, q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                           rowPos: [Int], rowTables: [[Int]], cache: PagedKVCache) {
        let c = config, hd = c.headDim, nq = c.headCount * hd, group = c.headCount / c.headCountKV
        let scale = 1 / sqrtf(Float(hd))
        let maxLen = (rowPos.max() ?? 0) + 1
        let bs = cache.blockSize, kvDim = cache.kvDim
        // One job per row and KV head: the `group` query heads sharing that head go together, so
        // each cache block's keys and values are read once for all of them, a block per kernel call.
        let work = n * c.headCountKV
        let body: (Int) -> Void = { job in
            let i = job / c.headCountKV, kvh = job % c.headCountKV, h0 = kvh * group
            let qh = q + i * nq + h0 * hd, oh = out + i * nq + h0 * hd
            let len = rowPos[i] + 1, table = rowTables[i]
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: group * len)
            defer { scores.deallocate() }
            for t0 in stride(from: 0, to: len, by: bs) {
                let kt = cache.keyBlock(table, layer: layer, pos: t0) + kvh * hd * bs
                bk_attn_scores_t(Int64(hd), Int64(group), qh, Int64(hd), kt, Int64(bs), Int64(min(bs, len - t0)), scale,
                                 scores + t0, Int64(len))
            }
            for j in 0..<group { bk_softmax_f32(scores + j * len, Int64(len)) }
            oh.update(repeating: 0, count: group * hd)
            for t0 in stride(from: 0, to: len, by: bs) {
                let v = cache.valueSlot(table, layer: layer, pos: t0) + kvh * hd
                bk_attn_values(Int64(hd), Int64(group), scores + t0, Int64(len), v, Int64(kvDim), Int64(min(bs, len - t0)),
                               oh, Int64(hd))
            }
        }
        if work * group * maxLen * hd < 1 << 15 || matmul.threads == 1 {
            for j in 0..<work { body(j) }
        } else {
            let parts = min(matmul.threads, work)
            matmul.workers.run(chunks: parts) { p in
                for j in (work * p / parts)..<(work * (p + 1) / parts) { body(j) }
            }
        }
    }
}

/// y = x / sqrt(mean(x²) + eps) · weight (the mean summed in double, as ggml does).
@inline(__always)
func rmsNorm(_ x: UnsafePointer<Float>, weight: [Float], eps: Float, n: Int, out: UnsafeMutablePointer<Float>) {
    var ss: Double = 0
    for i in 0..<n { ss += Double(x[i] * x[i]) }
    let scale = 1 / sqrtf(Float(ss / Double(n)) + eps)
    for i in 0..<n { out[i] = x[i] * scale * weight[i] }
}

@inline(__always)
func addBias(_ x: UnsafeMutablePointer<Float>, _ b: [Float]) {
    for i in 0..<b.count { x[i] += b[i] }
}

/// Rotary position embedding, computed like ggml's `rope_f32` (theta advanced by repeated
/// multiplication in float): adjacent pairs for `llama`, (i, i + d/2) pairs for neox (`qwen2`).
struct RoPE {
    let dims: Int
    let thetaScale: Float
    let freqScale: Float
    let neox: Bool

    init(config c: LlamaConfig) {
        dims = c.ropeDimensions
        thetaScale = powf(c.ropeFreqBase, -2.0 / Float(c.ropeDimensions))
        freqScale = c.ropeFreqScale
        neox = c.ropeNeox
    }

    /// The cosines and sines of `position`'s angles: dims/2 of each, cosines first.
    func angles(position: Int, into out: UnsafeMutablePointer<Float>) {
        var theta = Float(position)
        for p in 0..<(dims / 2) {
            let t = freqScale * theta
            out[p] = cosf(t)
            out[dims / 2 + p] = sinf(t)
            theta *= thetaScale
        }
    }

    /// Rotates one head's `x` by `angles` (from ``angles(position:into:)``).
    func apply(_ x: UnsafeMutablePointer<Float>, angles: UnsafePointer<Float>) {
        for p in 0..<(dims / 2) {
            let i0 = 2 * p
            let cs = angles[p], sn = angles[dims / 2 + p]
            let a = neox ? i0 / 2 : i0, b = neox ? i0 / 2 + dims / 2 : i0 + 1
            let x0 = x[a], x1 = x[b]
            x[a] = x0 * cs - x1 * sn
            x[b] = x0 * sn + x1 * cs
        }
    }
}
