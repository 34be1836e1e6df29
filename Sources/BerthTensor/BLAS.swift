import COpenBLAS

/// Single-precision matrix products through OpenBLAS. Row-major throughout.
public enum BLAS {
    /// `C = alpha * op(A) * op(B) + beta * C` with `op(A)` of shape [m, k] and `op(B)` [k, n].
    /// `lda`, `ldb`, `ldc` are the row strides of the stored matrices.
    @inline(__always)
    public static func sgemm(
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
        if m == 1 {
            // One row (batch-1 inference): a matrix-vector product. OpenBLAS's sgemm pays its
            // packing and blocking set-up for nothing here; sgemv streams B once.
            // The row of op(A) is A's row 0, or A's column 0 (stride lda) when transposed.
            let incx = Int32(transA ? lda : 1)
            if transB {
                // op(B) = Bᵀ with B stored [n, k]: c = B · a.
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, incx, beta, c, 1)
            } else {
                // B stored [k, n]: c = Bᵀ · a.
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), a, incx, beta, c, 1)
            }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Sets the number of threads OpenBLAS uses. It is process-wide, which is why sessions set it
    /// from their intra-op thread count before running. The call is skipped when the count is
    /// already set: OpenBLAS takes a lock and may touch its thread buffers on every call.
    public static func setThreads(_ n: Int) {
        let want = Int32(max(1, n))
        // A racy read is harmless: the worst case is one redundant (idempotent) call.
        guard lastThreads != want else { return }
        lastThreads = want
        openblas_set_num_threads(want)
    }

    nonisolated(unsafe) private static var lastThreads: Int32 = 0
}
