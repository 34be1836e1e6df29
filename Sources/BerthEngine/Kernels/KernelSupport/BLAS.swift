import COpenBLAS

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

    /// Sets the number of threads OpenBLAS uses. It is process-wide, which is why sessions set it
    /// from their intra-op thread count before running. The call is skipped when the count is
    /// already set: OpenBLAS takes a lock and may touch its thread buffers on every call.
    static func setThreads(_ n: Int) {
        let want = Int32(max(1, n))
        // A racy read is harmless: the worst case is one redundant (idempotent) call.
        guard lastThreads != want else { return }
        lastThreads = want
        openblas_set_num_threads(want)
    }

    nonisolated(unsafe) private static var lastThreads: Int32 = 0
}
