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
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
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
        // With more than one intra-op thread OpenBLAS keeps the product: 2-thread oneDNN GEMM on
        // OpenMP stalls on shared cores (see DNNLThreads), OpenBLAS's threads hold up.
        if gemmUsesDNNL && (m > 8 || gemvUsesDNNL) && (gemmThreads == 1 || DNNLThreads.followsIntraOp),
           DNNL.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c, ldc: ldc, threads: gemmThreads) {
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

    /// Sets OpenBLAS's thread count, once per process, and returns the count in force.
    ///
    /// The count is process state inside OpenBLAS, not per call, so it cannot follow each
    /// session's `intraOpThreads`: setting it on every run (as before) let two models with
    /// different settings flip it under each other mid-run. The kernels call sgemm outside the
    /// intra-op pool (one product at a time, threaded by OpenBLAS), so it should match the pool
    /// size; the first session's count is used (the CLI makes one session; the server gives every
    /// model its `--threads` unless a model's config overrides it) and later calls only report it.
    @discardableResult
    /// Double-precision `C = A · B` (row-major, no transposes): exact for integer operands whose
    /// products and sums stay below 2^53, which is how integer MatMuls too large for float use BLAS.
    static func dgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Double>, b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) {
        guard m > 0, n > 0, k > 0 else {
            if m > 0, n > 0 { c.initialize(repeating: 0, count: m * n) }
            return
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c, Int32(n))
    }

    static func configureThreads(_ n: Int) -> Int {
        threadsLock.lock()
        defer { threadsLock.unlock() }
        if let configured = configuredThreads { return configured }
        let want = max(1, n)
        openblas_set_num_threads(Int32(want))
        configuredThreads = want
        gemmThreads = want
        return want
    }

    #if canImport(CDNNL)
    /// Whether sgemm runs on oneDNN (on unless BERTH_DNNL_GEMM=0 or BERTH_DNNL=0).
    static let gemmUsesDNNL: Bool = {
        let env = ProcessInfo.processInfo.environment
        return env["BERTH_DNNL_GEMM"] != "0" && env["BERTH_DNNL"] != "0" && DNNL.isAvailable
    }()
    /// Whether products of at most 8 rows go to oneDNN too (BERTH_DNNL_GEMV=1) instead of OpenBLAS's sgemv.
    static let gemvUsesDNNL: Bool = ProcessInfo.processInfo.environment["BERTH_DNNL_GEMV"] == "1"
    /// The thread count a oneDNN product runs with, or nil when products stay on OpenBLAS
    /// (several intra-op threads: see `sgemm`).
    static var oneDNNGemmThreads: Int? { gemmThreads == 1 || DNNLThreads.followsIntraOp ? gemmThreads : nil }
    #endif

    private static let threadsLock = NSLock()
    /// The configured count as a plain word, read on every product without the lock.
    nonisolated(unsafe) private static var gemmThreads = 1
    nonisolated(unsafe) private static var configuredThreads: Int?
}
