#if canImport(CDNNL)
import BerthTensor
import CDNNL
import Foundation

/// A region's convolution split over the intra-op pool in 1-thread oneDNN pieces, for sessions
/// with several intra-op threads: batch slices (batch ≥ 2), or at batch 1 output-row slices (NHWC)
/// or output-channel slices (nChw16c / nChw8c),
/// a few more pieces than threads, each taken by whichever pool thread is free. Debian's oneDNN
/// would otherwise need an OpenMP team per primitive, which spins, and collapses when the cores
/// are shared (see ``DNNLThreads``); here a descheduled thread delays one piece, not the call.
///
/// Each piece writes its part of the whole output in place: the whole's layout is one of the
/// formats whose batch (and, at batch 1, row or channel-block) slices are contiguous (nChw16c,
/// nChw8c, NCHW, NHWC), so a piece's tensors are the whole's bytes at an offset.
final class SplitConvolution: @unchecked Sendable {
    /// The unsplit primitive: its layouts are the region values' layouts.
    let whole: DNNL.Convolution
    private struct Piece {
        var conv: DNNL.Convolution
        var srcOffset: Int, dstOffset: Int, biasOffset: Int
        /// This piece's packed weights (batch slices of one size share them).
        var weights: DNNL.Buffer
        /// This piece's own scratchpads, when there is a piece per thread (batch 1): the thread
        /// that takes a piece is nearly always the same one, and so is the memory it writes.
        var scratch: DNNL.BufferPool? = nil
    }
    private let pieces: [Piece]
    /// Output-channel pieces below ``farMinimumWork``: the whole's packed weights, used while
    /// the pool's cores are far apart (``ThreadPool/coresFarApart``). Each channel piece reads
    /// the whole input, which the other core wrote: on this project's VMs, when the host puts the
    /// two vCPUs on different dies, the MNIST CNN's 32→64 3x3 layer at batch 1 took longer in two
    /// pieces than whole (the model at 2 threads, three interleaved rounds: p50 52 µs split, 42
    /// whole; with the cores close, 33 split and 39 whole, and the pool's measure picks the split).
    /// MobileNetV2's 7x7 channel pieces (4.5M multiply-adds and more) stay split: unchanged there.
    private let wholeWeights: DNNL.Buffer?
    /// Calls so far: one in ``farProbeEvery`` runs split even while the cores are far apart, so the
    /// pool keeps measuring its hand-off.
    private let farCalls = AtomicCounter()
    /// Multiply-adds from which channel pieces pay even when the cores are far apart (their
    /// compute then outweighs the input the other core reads); `BERTH_SPLIT_FAR_MIN_WORK`.
    static let farMinimumWork = Int(ProcessInfo.processInfo.environment["BERTH_SPLIT_FAR_MIN_WORK"] ?? "") ?? (1 << 22)
    static let farProbeEvery = 32

    var srcMD: dnnl_memory_desc_t { whole.srcMD }
    var dstMD: dnnl_memory_desc_t { whole.dstMD }

    /// Pieces per thread for batch slices (more pieces balance better on shared cores), for row
    /// slices (each piece reads all the weights: ResNet-50 batch 1 took 4–6 % more CPU time with
    /// two per thread) and for channel slices (each piece reads the whole input again).
    /// `BERTH_SPLIT_BATCH` / `BERTH_SPLIT_ROWS` / `BERTH_SPLIT_CHANNELS` set them, for measurements.
    static let batchPiecesPerThread = Int(ProcessInfo.processInfo.environment["BERTH_SPLIT_BATCH"] ?? "") ?? 2
    static let rowPiecesPerThread = Int(ProcessInfo.processInfo.environment["BERTH_SPLIT_ROWS"] ?? "") ?? 1
    static let channelPiecesPerThread = Int(ProcessInfo.processInfo.environment["BERTH_SPLIT_CHANNELS"] ?? "") ?? 1
    /// Convolutions below this many multiply-adds run unsplit (waking a thread costs a few µs;
    /// `BERTH_SPLIT_CONV_MIN_WORK` sets it, for measurements).
    static let minimumWork = Int(ProcessInfo.processInfo.environment["BERTH_SPLIT_CONV_MIN_WORK"] ?? "") ?? (1 << 19)

    /// A split of `spec` (1-thread primitives) for `threads` threads; nil when the convolution is
    /// too small, its layouts are not sliceable, or oneDNN refuses a piece (it then runs whole).
    init?(_ spec: DNNL.ConvSpec, weights w: [Float], threads: Int) {
        guard threads > 1, spec.input.count == 4, spec.output.count == 4, let whole = try? DNNL.Convolution(spec) else { return nil }
        let (n, c, h, wd) = (spec.input[0], spec.input[1], spec.input[2], spec.input[3])
        let (m, ho, wo) = (spec.output[1], spec.output[2], spec.output[3])
        let kernel = spec.weights.dropFirst(2).reduce(1, *)
        let work = Double(n) * Double(m) * Double(ho * wo) * Double(c / max(spec.group, 1)) * Double(kernel)
        guard work >= Double(Self.minimumWork) else { return nil }
        guard let srcTag = Self.tag(whole.srcMD, spec.input), let dstTag = Self.tag(whole.dstMD, spec.output) else { return nil }
        self.whole = whole
        var pieces: [Piece] = []
        var wholeWeights: DNNL.Buffer?
        if n >= 2 {
            // Batch slices: one primitive and one packed weight copy per slice size (two at most).
            let count = min(n, Self.batchPiecesPerThread * threads)
            let srcImage = DNNL.size(whole.srcMD) / n, dstImage = DNNL.size(whole.dstMD) / n
            var made: [Int: (DNNL.Convolution, DNNL.Buffer)] = [:]
            for i in 0..<count {
                let n0 = n * i / count, rows = n * (i + 1) / count - n0
                if made[rows] == nil {
                    var ps = spec
                    ps.input[0] = rows
                    ps.output[0] = rows
                    guard let src = try? DNNL.typedDesc(ps.input, dnnl_f32, srcTag.tag), let dst = try? DNNL.typedDesc(ps.output, dnnl_f32, dstTag.tag),
                          let conv = try? DNNL.Convolution(ps, src: src, dst: dst) else { return nil }
                    guard Self.fast(conv) else { return nil }
                    guard let packed = try? w.withUnsafeBufferPointer({ try conv.packWeights($0.baseAddress!) }) else { return nil }
                    made[rows] = (conv, packed)
                }
                let (conv, packed) = made[rows]!
                pieces.append(Piece(conv: conv, srcOffset: n0 * srcImage, dstOffset: n0 * dstImage, biasOffset: 0, weights: packed))
            }
        } else if dstTag.block == 0, srcTag.block == 0, spec.input.count == 4 {
            // Batch 1 in NHWC (what oneDNN's brgconv picks at batch 1): output-row slices, each
            // reading the input rows its windows cover, with the padding that falls in its part.
            let count = min(ho, Self.rowPiecesPerThread * threads)
            guard count > 1 else { return nil }
            let (stride, dil, top) = (spec.strides[0], spec.dilations[0], spec.padsBegin[0])
            let extent = (spec.weights[2] - 1) * dil + 1
            var packedBy: [(md: dnnl_memory_desc_t, buffer: DNNL.Buffer)] = []
            for i in 0..<count {
                let o0 = ho * i / count, o1 = ho * (i + 1) / count
                let first = o0 * stride - top, end = (o1 - 1) * stride - top + extent
                let ih0 = max(0, first), ih1 = min(h, end)
                guard ih1 > ih0 else { return nil }
                var ps = spec
                ps.input[2] = ih1 - ih0
                ps.output[2] = o1 - o0
                ps.padsBegin[0] = ih0 - first
                ps.padsEnd[0] = end - ih1
                guard let src = try? DNNL.typedDesc(ps.input, dnnl_f32, dnnl_nhwc), let dst = try? DNNL.typedDesc(ps.output, dnnl_f32, dnnl_nhwc),
                      let conv = try? DNNL.Convolution(ps, src: src, dst: dst) else { return nil }
                guard Self.fast(conv) else { return nil }
                let packed: DNNL.Buffer
                if let known = packedBy.first(where: { DNNL.same($0.md, conv.weightsMD) }) {
                    packed = known.buffer
                } else {
                    guard let b = try? w.withUnsafeBufferPointer({ try conv.packWeights($0.baseAddress!) }) else { return nil }
                    packedBy.append((conv.weightsMD, b))
                    packed = b
                }
                pieces.append(Piece(conv: conv, srcOffset: ih0 * wd * c * 4, dstOffset: o0 * wo * m * 4, biasOffset: 0, weights: packed))
            }
        } else {
            // Batch 1: output-channel slices on block boundaries, each with its slice of the weights
            // and bias; a depthwise convolution takes the same slice of its input.
            let depthwise = spec.group > 1 && spec.group == c && spec.group == m && spec.weights[1] == 1
            guard spec.group == 1 || depthwise, dstTag.block > 0, !depthwise || srcTag.block == dstTag.block else { return nil }
            let block = dstTag.block
            let blocks = (m + block - 1) / block
            let count = min(blocks, Self.channelPiecesPerThread * threads)
            guard count > 1 else { return nil }
            let perFilter = spec.weights.dropFirst().reduce(1, *)
            for i in 0..<count {
                let c0 = blocks * i / count * block, c1 = min(m, blocks * (i + 1) / count * block)
                var ps = spec
                ps.output[1] = c1 - c0
                ps.weights[0] = c1 - c0
                if depthwise {
                    ps.input[1] = c1 - c0
                    ps.group = c1 - c0
                }
                let pieceSrc: dnnl_memory_desc_t? = depthwise ? (try? DNNL.typedDesc(ps.input, dnnl_f32, srcTag.tag)) : whole.srcMD
                guard let dst = try? DNNL.typedDesc(ps.output, dnnl_f32, dstTag.tag), let src = pieceSrc,
                      let conv = try? DNNL.Convolution(ps, src: src, dst: dst) else { return nil }
                guard Self.fast(conv) else { return nil }
                guard let packed = try? w.withUnsafeBufferPointer({ try conv.packWeights($0.baseAddress! + c0 * perFilter) }) else { return nil }
                pieces.append(Piece(conv: conv, srcOffset: depthwise ? c0 * h * wd * 4 : 0, dstOffset: c0 * ho * wo * 4, biasOffset: c0,
                                    weights: packed))
            }
            if !depthwise, work < Double(Self.farMinimumWork), !whole.conv.implementation.hasPrefix("ref") {
                wholeWeights = try? w.withUnsafeBufferPointer { try whole.packWeights($0.baseAddress!) }
            }
        }
        if pieces.count <= threads { for i in pieces.indices { pieces[i].scratch = DNNL.BufferPool(maxBytes: 64 << 20) } }
        self.pieces = pieces
        self.wholeWeights = wholeWeights
    }

    /// True when this split runs whole while the pool's cores are far apart.
    var runsWholeWhenFar: Bool { wholeWeights != nil }

    /// Runs every piece on `pool` (`src`, `dst` in `srcMD`, `dstMD`; scratchpads from `buffers`),
    /// or the whole on the caller while `coresFarApart` (default: the pool's measure) for a split
    /// that keeps its whole's weights.
    func run(src: UnsafeMutableRawPointer, bias: UnsafePointer<Float>?, dst: UnsafeMutableRawPointer, buffers: DNNL.BufferPool,
             pool: ThreadPool, coresFarApart: Bool? = nil) throws {
        if let wholeWeights, coresFarApart ?? pool.coresFarApart, farCalls.next() % UInt64(Self.farProbeEvery) != 0 {
            omp_set_num_threads(1)
            try whole.runBlocked(src: src, weights: wholeWeights, bias: bias, dst: dst, pool: buffers)
            return
        }
        try DNNL.runPieces(pieces.count, on: pool, call: "split convolution \(whole.spec)") { i in
            let p = pieces[i]
            try p.conv.runBlocked(src: src + p.srcOffset, weights: p.weights, bias: bias.map { $0 + p.biasOffset },
                                  dst: dst + p.dstOffset, pool: p.scratch ?? buffers)
        }
    }

    /// False for oneDNN's reference kernels (what it falls back to when no fast kernel takes the
    /// piece's fixed layouts): far slower than running the convolution whole.
    private static func fast(_ conv: DNNL.Convolution) -> Bool { !conv.conv.implementation.hasPrefix("ref") }

    /// The format of a 4-D layout among those whose batch slices are contiguous, with its channel
    /// block (0: channel slices are not contiguous; 1: plain NCHW); nil for any other layout.
    /// NHWC is tried before NCHW: with one channel both describe the same bytes, and a piece
    /// described as NCHW gets oneDNN's reference kernel where the whole (NHWC) got brgconv —
    /// the MNIST CNN's 1→32 convolution then ran unsplit at batch 32.
    private static func tag(_ md: dnnl_memory_desc_t, _ dims: [Int]) -> (tag: dnnl_format_tag_t, block: Int)? {
        for (tag, block) in [(dnnl_nChw16c, 16), (dnnl_nChw8c, 8), (dnnl_nhwc, 0), (dnnl_nchw, 1)] {
            if let d = try? DNNL.typedDesc(dims, dnnl_f32, tag), DNNL.same(d, md) { return (tag, block) }
        }
        return nil
    }
}

/// A node's split convolutions, one per spec (bounded, as ``BlockedRegionCache`` is); a spec that
/// cannot be split is remembered, and runs whole.
final class SplitConvolutionCache: @unchecked Sendable {
    private let lock = NSLock()
    private var splits: [DNNL.ConvSpec: SplitConvolution?] = [:]
    /// The weights the splits were packed from (a different array starts over).
    private var source: [Float]?
    /// The last call's split: found again without hashing the spec.
    private var last: (spec: DNNL.ConvSpec, split: SplitConvolution?)?

    func split(_ spec: DNNL.ConvSpec, weights: [Float], threads: Int) -> SplitConvolution? {
        lock.lock()
        defer { lock.unlock() }
        if let s = source, !(s.count == weights.count && s.withUnsafeBufferPointer({ a in weights.withUnsafeBufferPointer { a.baseAddress == $0.baseAddress } })) {
            splits.removeAll()
            last = nil
        }
        source = weights
        if let last, last.spec == spec { return last.split }
        if let known = splits[spec] {
            last = (spec, known)
            return known
        }
        if splits.count >= 16 { splits.removeAll() }
        let made = SplitConvolution(spec, weights: weights, threads: threads)
        splits[spec] = .some(made)
        last = (spec, made)
        return made
    }
}
#endif
