import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// RotaryEmbedding (com.microsoft): rotates the first `rotary_embedding_dim` (default: the
    /// head size) features of each head by the angles in cos_cache / sin_cache [max_pos, rot/2]
    /// at each token's position (position_ids [B, S], or [1] holding the first position); halves
    /// paired as (i, i + rot/2), or neighbours (2i, 2i + 1) when `interleaved`. Input
    /// [B, S, N·H] (`num_heads`, or the head size from the caches) or [B, N, S, H].
    mutating func registerContribRotaryEmbedding() {
        register("RotaryEmbedding", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let interleaved = try node.int("interleaved", default: 0) != 0
            let headsAttr = try node.int("num_heads", default: 0), rotAttr = try node.int("rotary_embedding_dim", default: 0)
            return { inputs, _ in
                let x = try inputs.required(0), pos = try inputs.required(1), cosT = try inputs.required(2), sinT = try inputs.required(3)
                guard cosT.rank == 2, sinT.shape == cosT.shape, cosT.shape[1] > 0 else {
                    throw KernelError("RotaryEmbedding cos_cache and sin_cache must be equal [max_position, rotary_dim / 2], got \(cosT.shape) and \(sinT.shape)")
                }
                let half = cosT.shape[1], maxPos = cosT.shape[0]
                let rot = rotAttr > 0 ? rotAttr : 2 * half
                guard rot == 2 * half else { throw KernelError("RotaryEmbedding rotary_embedding_dim \(rot) does not match the caches' \(half) angles") }
                let (b, s, heads, h, fourD): (Int, Int, Int, Int, Bool)
                if x.rank == 4 {
                    (b, heads, s, h, fourD) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], true)
                } else if x.rank == 3 {
                    let head = headsAttr > 0 ? x.shape[2] / headsAttr : (rotAttr > 0 ? rotAttr : 2 * half)
                    guard head > 0, x.shape[2] % head == 0 else { throw KernelError("RotaryEmbedding cannot split hidden size \(x.shape[2]) into heads") }
                    (b, s, heads, h, fourD) = (x.shape[0], x.shape[1], x.shape[2] / head, head, false)
                } else {
                    throw KernelError("RotaryEmbedding input must be [B, S, D] or [B, N, S, H], got \(x.shape)")
                }
                guard rot <= h else { throw KernelError("RotaryEmbedding rotary dim \(rot) exceeds the head size \(h)") }
                let p = try pos.integers()
                guard pos.shape == [b, s] || p.count == 1 else { throw KernelError("RotaryEmbedding position_ids must be [\(b), \(s)] or [1], got \(pos.shape)") }
                var v = try contribFloats(x, "input")
                let cs = try contribFloats(cosT, "cos_cache"), sn = try contribFloats(sinT, "sin_cache")
                for bi in 0..<b {
                    for si in 0..<s {
                        let position = p.count == 1 ? p[0] + si : p[bi * s + si]
                        guard position >= 0, position < maxPos else { throw KernelError("RotaryEmbedding position \(position) is outside [0, \(maxPos))") }
                        for n in 0..<heads {
                            let base = fourD ? ((bi * heads + n) * s + si) * h : ((bi * s + si) * heads + n) * h
                            for i in 0..<half {
                                let (c, sv) = (cs[position * half + i], sn[position * half + i])
                                let (j1, j2) = interleaved ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + i + half)
                                let (x1, x2) = (v[j1], v[j2])
                                v[j1] = x1 * c - x2 * sv
                                v[j2] = x2 * c + x1 * sv
                            }
                        }
                    }
                }
                return [Tensor(unchecked: x.shape, storage: .float32(v))]
            }
        }
    }
}
