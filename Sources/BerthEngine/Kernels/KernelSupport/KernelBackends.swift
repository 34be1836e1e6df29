import Foundation

/// Which CPU kernel libraries this build and process run Conv and matrix products on, so that
/// benchmarks can say which kernels ran (`berth perf` prints it).
public enum KernelBackends {
    /// One line, e.g. "conv: oneDNN 2.6.3 (blocked, 1-thread primitives); gemm: oneDNN at 1 thread, else OpenBLAS".
    public static var summary: String {
        #if canImport(CDNNL)
        if convUsesDNNL, DNNL.isAvailable {
            let threads = DNNLThreads.followsIntraOp ? "intra-op-thread" : "1-thread"
            let gemm = BLAS.gemmUsesDNNL ? (DNNLThreads.followsIntraOp ? "oneDNN" : "oneDNN at 1 thread, else OpenBLAS") : "OpenBLAS"
            return "conv: oneDNN \(DNNL.version) (\(ConvLayoutChoice.current == .plain ? "plain" : "blocked"), \(threads) primitives); gemm: \(gemm)"
        }
        #endif
        return "conv: im2col + OpenBLAS; gemm: OpenBLAS"
    }
}
