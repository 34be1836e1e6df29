#if canImport(CDNNL)
import CDNNL
import Foundation

/// A region's pooling split into batch slices over the intra-op pool (1-thread primitives, two
/// pieces per thread, each taken by whichever thread is free), as ``SplitConvolution`` splits the
/// convolutions around it. Only for layouts whose batch slices are contiguous (nChw16c, nChw8c,
/// NHWC, NCHW), from ``minimumElements`` source floats. Batch 1 runs whole.
/// The MNIST CNN at batch 32 on 2 threads, whose two max-poolings ran on one thread between split
/// convolutions: p50 0.59–0.62 → 0.53 ms (three interleaved runs, load 1.1); batch 8: 0.17 → 0.16 ms.
/// (A session-12 measurement had found it slower, 0.91 against 0.66–0.75 ms, on a busier machine.)
/// `BERTH_SPLIT_POOLING=0` turns it off.
final class SplitPooling: @unchecked Sendable {
    static let enabled = ProcessInfo.processInfo.environment["BERTH_SPLIT_POOLING"] != "0"
    /// Source floats below which a pooling runs whole (a 64k-float max-pooling takes a few µs,
    /// about what waking a thread costs).
    static let minimumElements = 1 << 16
    static let piecesPerThread = 2

    private struct Piece {
        let primitive: DNNL.LayoutPrimitive
        let srcOffset: Int, dstOffset: Int
    }
    private let pieces: [Piece]
    private let pool: ThreadPool

    /// Batch slices of `whole` (NCHW dims `srcDims` → `dstDims`) for `pool`; nil when the pool has
    /// one thread, the pooling is small, a layout is not batch-outermost, or a piece would get
    /// oneDNN's reference kernel. `make(src, dst, srcDims, dstDims)` makes a piece's primitive.
    init?(whole: DNNL.LayoutPrimitive, srcDims: [Int], dstDims: [Int], pool: ThreadPool,
          make: (dnnl_memory_desc_t, dnnl_memory_desc_t, [Int], [Int]) throws -> DNNL.LayoutPrimitive) {
        guard pool.threads > 1, srcDims.count == 4, dstDims.count == 4, srcDims[0] >= 2, dstDims[0] == srcDims[0],
              srcDims.reduce(1, *) >= Self.minimumElements, whole.srcMDs.count == 1,
              let srcTag = Self.batchOuterTag(whole.srcMDs[0], srcDims), let dstTag = Self.batchOuterTag(whole.dstMD, dstDims) else { return nil }
        let n = srcDims[0]
        let count = min(n, Self.piecesPerThread * pool.threads)
        let srcImage = DNNL.size(whole.srcMDs[0]) / n, dstImage = DNNL.size(whole.dstMD) / n
        var made: [Int: DNNL.LayoutPrimitive] = [:]
        var pieces: [Piece] = []
        for i in 0..<count {
            let n0 = n * i / count, rows = n * (i + 1) / count - n0
            if made[rows] == nil {
                var sd = srcDims, dd = dstDims
                sd[0] = rows
                dd[0] = rows
                guard let src = try? DNNL.typedDesc(sd, dnnl_f32, srcTag), let dst = try? DNNL.typedDesc(dd, dnnl_f32, dstTag),
                      let p = try? make(src, dst, sd, dd), DNNL.same(p.dstMD, dst), !p.primitive.implementation.hasPrefix("ref") else { return nil }
                made[rows] = p
            }
            pieces.append(Piece(primitive: made[rows]!, srcOffset: n0 * srcImage, dstOffset: n0 * dstImage))
        }
        self.pieces = pieces
        self.pool = pool
    }

    /// Runs every slice on the pool, `src` and `dst` laid out as the whole's (scratchpads from `buffers`).
    func run(src: UnsafeMutableRawPointer, dst: UnsafeMutableRawPointer, buffers: DNNL.BufferPool) throws {
        try DNNL.runPieces(pieces.count, on: pool, call: "split pooling") { i in
            let p = pieces[i]
            try p.primitive.run(src: src + p.srcOffset, dst: dst + p.dstOffset, pool: buffers)
        }
    }

    /// The format of a layout among those whose batch slices are contiguous; nil for any other.
    private static func batchOuterTag(_ md: dnnl_memory_desc_t, _ dims: [Int]) -> dnnl_format_tag_t? {
        for tag in [dnnl_nChw16c, dnnl_nChw8c, dnnl_nhwc, dnnl_nchw] {
            if let d = try? DNNL.typedDesc(dims, dnnl_f32, tag), DNNL.same(d, md) { return tag }
        }
        return nil
    }
}
#endif
