#if canImport(CDNNL)
import BerthTensor
import CDNNL
import Foundation

/// A region's 1x1 convolution whose output only a 3x3 depthwise convolution reads (MobileNetV2's
/// expand → depthwise), run as one oneDNN primitive (``DNNL/PointwiseDepthwise``, nChw16c) so the
/// expanded tensor stays in cache. Expand + depthwise + project of MobileNetV2's 16→96→dw/2 block at
/// 112x112, caches flushed between calls as inside the network (AMD EPYC Zen 5, one thread): 0.60 ms
/// apart in NHWC, 0.36 apart in nChw16c, 0.31 fused. The whole network at batch 1 on one thread:
/// 4.73–5.21 → 4.47–4.80 ms p50, five interleaved runs of 1000 (load 2.4–3). oneDNN fuses only when
/// the expanded tensor exceeds about 1 MB and has a multiple of 16 channels (else its reference path,
/// refused here); the fusion is used only for inputs with a multiple of 16 channels (24 padded to 32
/// made the 56x56 blocks slower than apart), which in MobileNetV2 leaves the 16→96 block.
///
/// Used at batch 1: whole when the session runs one intra-op thread, in output-channel pieces over
/// the pool with several (each piece reads the whole input and keeps its part of the expanded tensor
/// in its core's cache). MobileNetV2 at batch 1 on 2 threads, six interleaved rounds of 500 runs:
/// p50 2.11–2.26 ms with the pair apart (split convolutions, the 4.8 MB expanded tensor written and
/// read back) → 1.97–2.08 ms in pieces. (Session 13 had measured the pieces slower, 3.02 against
/// 2.78 ms, in a noisier window.)
/// `BERTH_DNNL_DW_FUSION=0` keeps the pair apart; `=single` fuses only on one thread; `=all` fuses
/// whole at any batch and thread count and any input channels (measurements).
final class PointwiseDepthwiseFusion: @unchecked Sendable {
    static let mode = ProcessInfo.processInfo.environment["BERTH_DNNL_DW_FUSION"]
    static var enabled: Bool { mode != "0" }

    /// True when a session with `poolThreads` intra-op threads fuses.
    static func applies(poolThreads: Int) -> Bool { poolThreads == 1 || mode != "single" }
    /// Output-channel pieces for a session with `poolThreads` threads (1: the fused primitive runs whole).
    static func pieces(poolThreads: Int) -> Int { mode == "all" ? 1 : poolThreads }

    private let pointwise: NNConvAttributes, depthwise: NNConvAttributes
    private let pointwiseEltwise: [DNNL.Eltwise], depthwiseEltwise: [DNNL.Eltwise]

    /// The fused convolution as one primitive, or (batch 1, several threads) as output-channel
    /// pieces on 16-channel block boundaries: in nChw16c at batch 1 each piece's output is the
    /// whole's bytes from `channel` on, and each reads the whole input.
    struct Pieces {
        var convs: [(conv: DNNL.PointwiseDepthwise, channel: Int, weights: (pointwise: DNNL.Buffer, depthwise: DNNL.Buffer))]
        /// The whole output's dims and layout, and the source layout every piece reads.
        var output: [Int]
        var dstMD: dnnl_memory_desc_t
        var srcMD: dnnl_memory_desc_t
        /// Each piece's own scratchpads (the thread that takes a piece is nearly always the same).
        var scratch: [DNNL.BufferPool]
    }

    private final class Entry {
        let convs: [(conv: DNNL.PointwiseDepthwise, channel: Int)]
        let output: [Int]
        let dstMD: dnnl_memory_desc_t
        var packed: (weights: [Float], depthwise: [Float], buffers: [(pointwise: DNNL.Buffer, depthwise: DNNL.Buffer)])?
        let scratch: [DNNL.BufferPool]
        init(_ convs: [(conv: DNNL.PointwiseDepthwise, channel: Int)], output: [Int], dstMD: dnnl_memory_desc_t) {
            self.convs = convs
            scratch = convs.map { _ in DNNL.BufferPool(maxBytes: 64 << 20) }
            self.output = output
            self.dstMD = dstMD
        }
    }
    private let lock = NSLock()
    private var entries: [PieceKey: Entry?] = [:]
    /// The last call's shapes and entry: a model called with one shape finds it without shape arithmetic.
    private var last: (input: [Int], tag: UInt32, weights: [Int], depthwiseWeights: [Int], hasBias: Bool, pieces: Int, entry: Entry?)?

    /// nil unless `first` is a convolution without residual and `second` a convolution, both with
    /// activations oneDNN runs as post-ops (the kernel and stride are checked per call).
    init?(_ first: BlockedRegionOp, _ second: BlockedRegionOp) {
        guard case let .conv(a, actA) = first, case let .conv(b, actB) = second, a.group == 1, b.group > 1,
              let ea = ConvEpilogue(activation: actA).dnnlEltwise, let eb = ConvEpilogue(activation: actB).dnnlEltwise else { return nil }
        pointwise = a
        depthwise = b
        pointwiseEltwise = ea
        depthwiseEltwise = eb
    }

    /// The fused primitive and its packed weights for an input of `input` dims in layout `tag`
    /// (nhwc or nChw16c), with the output dims ONNX gives the depthwise convolution; nil when the
    /// shapes are not a 1x1 (stride 1, no padding) followed by a 3x3 depthwise (padding 1, stride
    /// 1 or 2) or oneDNN has no fast kernel for them.
    /// `pieces` > 1 asks for that many output-channel pieces (batch 1 only; fewer when the channels
    /// have fewer blocks; nil when a piece gets only the reference kernel).
    func primitive(input: [Int], tag: dnnl_format_tag_t, weights w: Tensor, hasBias: Bool, depthwiseWeights dw: Tensor, pieces: Int = 1) -> Pieces? {
        lock.lock()
        defer { lock.unlock() }
        let entry: Entry
        if let l = last, l.input == input, l.tag == tag.rawValue, l.weights == w.shape, l.depthwiseWeights == dw.shape, l.hasBias == hasBias,
           l.pieces == pieces {
            guard let e = l.entry else { return nil }
            entry = e
        } else {
            let found = lookUp(input: input, tag: tag, w: w.shape, hasBias: hasBias, dw: dw.shape, pieces: pieces)
            last = (input, tag.rawValue, w.shape, dw.shape, hasBias, pieces, found)
            guard let found else { return nil }
            entry = found
        }
        let wf = w.floats, dwf = dw.floats
        let buffers: [(pointwise: DNNL.Buffer, depthwise: DNNL.Buffer)]
        if let p = entry.packed, Self.sameArray(p.weights, wf), Self.sameArray(p.depthwise, dwf) {
            buffers = p.buffers
        } else {
            let perFilter = w.shape.dropFirst().reduce(1, *)
            guard let b = try? wf.withUnsafeBufferPointer({ a in try dwf.withUnsafeBufferPointer { d in
                try entry.convs.map { try $0.conv.packWeights(a.baseAddress! + $0.channel * perFilter, depthwise: d.baseAddress! + $0.channel * 9) }
            } }) else { return nil }
            entry.packed = (wf, dwf, b)
            buffers = b
        }
        return Pieces(convs: zip(entry.convs, buffers).map { ($0.conv, $0.channel, $1) }, output: entry.output, dstMD: entry.dstMD,
                      srcMD: entry.convs[0].conv.srcMD, scratch: entry.scratch)
    }

    private static func sameArray(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { x.baseAddress == $0.baseAddress } }
    }

    /// Checks the shapes and finds or makes the entry (nil, remembered, when they do not fuse).
    private func lookUp(input: [Int], tag: dnnl_format_tag_t, w: [Int], hasBias: Bool, dw: [Int], pieces: Int) -> Entry? {
        // Batch 1 only: at larger batches the pair runs in nChw16c (``BlockedConvLayout``), unmeasured fused.
        // Input channels a multiple of 16: nChw16c pads others, and the padded 1x1 cost more than the fusion saved.
        guard input.count == 4, input[0] == 1 || Self.mode == "all", input[1] % 16 == 0 || Self.mode == "all", tag == dnnl_nChw16c, w.count == 4, w[2] == 1, w[3] == 1,
              let s = try? pointwise.shapes(x: input, w: w, op: "Conv"),
              s.g.strides.allSatisfy({ $0 == 1 }), s.g.dilations.allSatisfy({ $0 == 1 }),
              s.g.padsBegin.allSatisfy({ $0 == 0 }), s.g.padsEnd.allSatisfy({ $0 == 0 }) else { return nil }
        let channels = s.outShape[1]
        guard dw == [channels, 1, 3, 3], depthwise.group == channels, let t = try? depthwise.shapes(x: s.outShape, w: dw, op: "Conv"),
              let stride = t.g.strides.first, stride == 1 || stride == 2, t.g.strides.allSatisfy({ $0 == stride }),
              t.g.dilations.allSatisfy({ $0 == 1 }), t.g.padsBegin.allSatisfy({ $0 == 1 }), t.g.padsEnd.allSatisfy({ $0 == 1 }),
              (try? Shape.elementCount(t.outShape)).map({ $0 > 0 }) == true else { return nil }
        let blocks = channels / 16
        let count = pieces > 1 && input[0] == 1 && channels % 16 == 0 ? min(blocks, pieces) : 1
        guard pieces == 1 || count > 1 else { return nil }
        let key = PieceKey(input: input, weights: w, hasBias: hasBias, stride: stride, tag: tag.rawValue, pieces: count)
        if let known = entries[key] { return known }
        if entries.count >= 16 { entries.removeAll() }
        var convs: [(conv: DNNL.PointwiseDepthwise, channel: Int)] = []
        for i in 0..<count {
            let c0 = count == 1 ? 0 : blocks * i / count * 16, c1 = count == 1 ? channels : blocks * (i + 1) / count * 16
            var shape = s.outShape, ws = w
            shape[1] = c1 - c0
            ws[0] = c1 - c0
            let p = DNNL.ConvSpec(input: input, output: shape, weights: ws, group: 1, strides: [1, 1], dilations: [1, 1], padsBegin: [0, 0],
                                  padsEnd: [0, 0], hasBias: hasBias, sum: false, eltwise: pointwiseEltwise, blocked: true, threads: 1)
            let spec = DNNL.PointwiseDepthwiseSpec(pointwise: p, stride: stride, depthwiseEltwise: depthwiseEltwise, tag: tag.rawValue)
            var want = t.outShape
            want[1] = c1 - c0
            guard let conv = try? DNNL.PointwiseDepthwise(spec), conv.output == want else { convs = []; break }
            convs.append((conv, c0))
        }
        var made: Entry?
        if !convs.isEmpty {
            if count == 1 {
                made = Entry(convs, output: t.outShape, dstMD: convs[0].conv.dstMD)
            } else if let md = try? DNNL.typedDesc(t.outShape, dnnl_f32, tag) {
                made = Entry(convs, output: t.outShape, dstMD: md)
            }
        }
        entries[key] = .some(made)
        return made
    }

    /// What fixes an entry besides the node pair.
    private struct PieceKey: Hashable {
        var input: [Int], weights: [Int], hasBias: Bool, stride: Int, tag: UInt32, pieces: Int
    }
}
#endif
