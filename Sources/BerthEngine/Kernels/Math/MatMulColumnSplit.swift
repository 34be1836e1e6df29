#if canImport(CDNNL)
import Foundation

/// A float32 product with a constant weight split by output columns over the intra-op pool, for
/// few rows and a wide weight (the MLP's 1000→256 layer and the MNIST CNN's 3136→128 layer at
/// batch 32): each piece is a 1-thread oneDNN matmul with only its own columns of the weight
/// packed, so a thread reads its part of the weight rather than all of it (row pieces each stream
/// the whole weight, 1–1.6 MB here, more than a core's L2). A piece writes a dense [M, width]
/// block that is copied into its columns of C: oneDNN's brgemm matmul takes no row stride for
/// its destination (a strided one falls back to its unpacked gemm).
final class ColumnSplit: @unchecked Sendable {
    private struct Piece {
        let matmul: DNNL.MatMul
        let weights: DNNL.Buffer
        /// The first output column and the number of columns.
        let column: Int, width: Int
    }
    private let pieces: [Piece]
    private let m: Int, n: Int
    private let buffers = DNNL.BufferPool(maxBytes: 16 << 20)

    /// Column pieces per pool thread (`BERTH_SPLIT_COLUMNS`, for measurements; 0 turns the
    /// column split off).
    static let piecesPerThread = Int(ProcessInfo.processInfo.environment["BERTH_SPLIT_COLUMNS"] ?? "") ?? 1

    /// How many column pieces a product of `m` rows by a [k, n] weight gets over `threads`
    /// threads; below 2, none (it runs whole or in row pieces). Only when the weight is wider
    /// than the rows are many (n > m: the weight outweighs the activations each piece re-reads),
    /// with at least 32 columns a piece, and enough work to pay for waking a thread.
    static func pieces(m: Int, k: Int, n: Int, threads: Int) -> Int {
        guard threads > 1, m >= 2, n > m, Double(m) * Double(n) * Double(k) >= Double(MatMulBackendCache.splitMinimumWork) else { return 0 }
        return min(piecesPerThread * threads, n / 32)
    }

    /// Pieces for `spec` (1 thread each; its weight stored [K, N], or [N, K] when transposed, at
    /// `weights`), each packing its columns, on multiples of 16 but the last.
    init(_ spec: DNNL.MatMulSpec, pieces count: Int, weights w: UnsafePointer<Float>) throws {
        var pieces: [Piece] = []
        for i in 0..<count {
            let cols = BLAS.columnPiece(i, of: count, columns: spec.n)
            guard !cols.isEmpty else { continue }
            let j0 = cols.lowerBound, j1 = cols.upperBound
            var ps = spec
            ps.n = j1 - j0
            // Transposed, the piece's columns are rows j0..<j1 of the stored [N, K]: contiguous.
            let matmul = try DNNL.MatMul(ps, weightsRowStride: spec.transposedB ? nil : spec.n)
            let packed = try matmul.packWeights(spec.transposedB ? w + j0 * spec.k : w + j0)
            pieces.append(Piece(matmul: matmul, weights: packed, column: j0, width: j1 - j0))
        }
        self.pieces = pieces
        m = spec.m
        n = spec.n
    }

    /// `c[m, n] = a[m, k] · w (+ bias[n])` (then the spec's GELU), every piece on `pool`; false
    /// when oneDNN failed (the caller then computes it on GEMM).
    func run(a: UnsafePointer<Float>, bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, pool: ThreadPool) -> Bool {
        let failed = FailureFlag()
        pool.forEachIndex(pieces.count) { i in
            let p = pieces[i]
            let block = buffers.take(m * p.width * MemoryLayout<Float>.stride)
            defer { buffers.give(block) }
            let t = block.pointer.assumingMemoryBound(to: Float.self)
            do {
                try p.matmul.run(src: a, weights: p.weights, bias: bias.map { $0 + p.column }, dst: t)
            } catch {
                failed.set()
                return
            }
            for r in 0..<m { (c + r * n + p.column).update(from: t + r * p.width, count: p.width) }
        }
        return !failed.isSet
    }
}
#endif
