import COpenBLAS
import Foundation
#if canImport(CDNNL)
import CDNNL
#endif

/// Single-precision matrix products through OpenBLAS. Row-major throughout.
enum BLAS {
    /// `C = alpha * op(A) * op(B) + beta * C` with `op(A)` of shape [m, k] and `op(B)` [k, n].
    /// `lda`, `ldb`, `ldc` are the row strides of the stored matrices.
    @inline(__always)
    static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, serial: Bool = false
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // BLAS may leave C untouched for k == 0; ONNX wants beta*C.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        #if canImport(CDNNL)
        // oneDNN's JIT GEMM picks its AVX2 / AVX-512 kernels at run time whatever OPENBLAS_CORETYPE
        // says, and runs on the same OpenMP threads as the oneDNN convolutions (OpenBLAS's own
        // spinning threads beside them starve both). BERTH_DNNL_GEMM=0 keeps OpenBLAS.
        // With several intra-op threads and no OpenMP teams (the default, see DNNLThreads), Berth
        // splits the product itself: rows (or, for a few rows, columns) in a few more pieces than
        // threads, each a 1-thread call, taken by whichever pool thread is free, so a descheduled
        // thread delays its piece rather than the whole product. OpenBLAS then runs 1 thread.
        if gemmUsesDNNL && !serial && !DNNLThreads.followsIntraOp && (pool?.threads ?? 1) > 1 {
            if splitSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                          beta: beta, c: c, ldc: ldc) { return }
        }
        if gemmUsesDNNL && (m > 8 || gemvUsesDNNL),
           DNNL.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c, ldc: ldc, threads: DNNLThreads.followsIntraOp && !serial ? gemmThreads : 1) {
            return
        }
        #endif
        if m <= 8 {
            // A few rows (batch-1 or small-batch inference): matrix-vector products. OpenBLAS's
            // sgemm packs all of B on every call, which costs more than streaming B once per row
            // (a 1000x256 layer, 2 threads: 1 row 26 µs vs 100 µs, 4 rows 53 vs 126, 8 rows 90 vs 136;
            // from about 12 rows on sgemm wins).
            // Row i of op(A) is A's row i, or A's column i (stride lda) when transposed.
            let incx = Int32(transA ? lda : 1)
            for i in 0..<m {
                let ai = transA ? a + i : a + i * lda
                let ci = c + i * ldc
                if transB {
                    // op(B) = Bᵀ with B stored [n, k]: c_i = B · a_i.
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), ai, incx, beta, ci, 1)
                } else {
                    // B stored [k, n]: c_i = Bᵀ · a_i.
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), ai, incx, beta, ci, 1)
                }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Double-precision `C = A · B` (row-major, no transposes): exact for integer operands whose
    /// products and sums stay below 2^53, which is how integer MatMuls too large for float use BLAS.
    static func dgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Double>, b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) {
        guard m > 0, n > 0, k > 0 else {
            if m > 0, n > 0 { c.initialize(repeating: 0, count: m * n) }
            return
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c, Int32(n))
    }

    /// Sets OpenBLAS's thread count, once per process, and returns the count in force.
    ///
    /// The count is process state inside OpenBLAS, not per call, so it cannot follow each
    /// session's `intraOpThreads`: setting it on every run (as before) let two models with
    /// different settings flip it under each other mid-run. The kernels call sgemm outside the
    /// intra-op pool (one product at a time, threaded by OpenBLAS), so it should match the pool
    /// size; the first session's count is used (the CLI makes one session; the server gives every
    /// model its `--threads` unless a model's config overrides it) and later calls only report it.
    /// With oneDNN, OpenBLAS runs one thread and products split over the running session's pool
    /// (``sessionPool``); the first session's pool is only the fallback outside a session run.
    @discardableResult
    static func configureThreads(_ n: Int) -> Int {
        threadsLock.lock()
        defer { threadsLock.unlock() }
        if let configured = configuredThreads { return configured }
        let want = max(1, n)
        #if canImport(CDNNL)
        // Products split by Berth's pool (see `sgemm`): OpenBLAS's own threads would spin beside it.
        openblas_set_num_threads(gemmUsesDNNL && !DNNLThreads.followsIntraOp ? 1 : Int32(want))
        #else
        openblas_set_num_threads(Int32(want))
        #endif
        configuredThreads = want
        gemmThreads = want
        splitPool = ThreadPool.shared(threads: want)
        return want
    }

    /// The pool products are split over: the running session's intra-op pool, else (outside a
    /// session run, e.g. on a pool worker) the first session's; nil before any session.
    static var pool: ThreadPool? { sessionPool ?? splitPool }

    /// The intra-op pool of the session whose run is on this thread (bound by `Session.run`), so
    /// a 2-thread model splits its products over 2 threads even when a 1-thread model was loaded
    /// first, and a 1-thread model does not split.
    @TaskLocal static var sessionPool: ThreadPool?

    /// The configured intra-op thread count (1 until a session sets it).
    static var threads: Int { gemmThreads }

    /// Products below this many multiply-adds run on one thread: waking a pool thread costs a few
    /// microseconds, about what 2^18 multiply-adds take.
    static let splitMinimumWork = 1 << 18

    /// The same for a few rows (matrix-vector products, bound by reading B): halving the read
    /// pays sooner (`BERTH_SPLIT_GEMV_MIN_WORK`). The MLP's 1000→256 layer at batch 1 (256k
    /// multiply-adds) ran on one thread under the general bound.
    static let gemvSplitMinimumWork = Int(ProcessInfo.processInfo.environment["BERTH_SPLIT_GEMV_MIN_WORK"] ?? "") ?? (1 << 16)

    /// `sgemm` split over ``pool`` (or `pool`, for tests) in 1-thread pieces; false when the
    /// product is too small to gain from it (the caller then runs it on one thread).
    static func splitSgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, pool: ThreadPool? = nil
    ) -> Bool {
        guard let pool = pool ?? Self.pool, Double(m) * Double(n) * Double(k) >= Double(m <= 8 ? gemvSplitMinimumWork : splitMinimumWork) else { return false }
        let t = pool.threads
        if m > 8 {
            // Row pieces of at least 8 rows: op(A)'s rows r0..<r1 are A's rows, or A's columns when transposed.
            let pieces = min(2 * t, max(1, m / 8))
            guard pieces > 1 else { return false }
            pool.forEachIndex(pieces) { i in
                let r0 = m * i / pieces, r1 = m * (i + 1) / pieces
                sgemm(transA: transA, transB: transB, m: r1 - r0, n: n, k: k, alpha: alpha, a: transA ? a + r0 : a + r0 * lda, lda: lda,
                      b: b, ldb: ldb, beta: beta, c: c + r0 * ldc, ldc: ldc, serial: true)
            }
        } else {
            // Column pieces (multiples of 16) of op(B): B's rows when transposed, else its columns.
            let pieces = min(2 * t, n / 64)
            guard pieces > 1 else { return false }
            pool.forEachIndex(pieces) { i in
                let cols = columnPiece(i, of: pieces, columns: n)
                guard !cols.isEmpty else { return }
                let j0 = cols.lowerBound
                sgemm(transA: transA, transB: transB, m: m, n: cols.count, k: k, alpha: alpha, a: a, lda: lda,
                      b: transB ? b + j0 * ldb : b + j0, ldb: ldb, beta: beta, c: c + j0, ldc: ldc, serial: true)
            }
        }
        return true
    }

    /// Piece `i` of `pieces` over `columns` output columns: boundaries on multiples of 16 (whole
    /// vector registers per piece) but the last, which ends at `columns`; empty when rounding
    /// leaves it nothing.
    static func columnPiece(_ i: Int, of pieces: Int, columns n: Int) -> Range<Int> {
        let j0 = (n * i / pieces) & ~15, j1 = i == pieces - 1 ? n : (n * (i + 1) / pieces) & ~15
        return j0..<max(j0, j1)
    }

    #if canImport(CDNNL)
    /// Whether sgemm runs on oneDNN (on unless BERTH_DNNL_GEMM=0 or BERTH_DNNL=0).
    static let gemmUsesDNNL: Bool = {
        let env = ProcessInfo.processInfo.environment
        return env["BERTH_DNNL_GEMM"] != "0" && env["BERTH_DNNL"] != "0" && DNNL.isAvailable
    }()
    /// Whether products of at most 8 rows go to oneDNN too (BERTH_DNNL_GEMV=1) instead of OpenBLAS's sgemv.
    static let gemvUsesDNNL: Bool = ProcessInfo.processInfo.environment["BERTH_DNNL_GEMV"] == "1"
    /// The OpenMP thread count of a oneDNN product: the intra-op count with
    /// `BERTH_DNNL_THREADS=intra`, else 1 (several intra-op threads split the product: see `sgemm`).
    static var oneDNNGemmThreads: Int { DNNLThreads.followsIntraOp ? gemmThreads : 1 }
    #endif

    private static let threadsLock = NSLock()
    /// The configured count as a plain word, read on every product without the lock.
    nonisolated(unsafe) private static var gemmThreads = 1
    nonisolated(unsafe) private static var configuredThreads: Int?
    /// The pool split products run on (the configured thread count); nil until configured.
    nonisolated(unsafe) private static var splitPool: ThreadPool?
}
