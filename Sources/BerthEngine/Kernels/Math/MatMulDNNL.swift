import BerthTensor
import Foundation

/// Per-node state for a float32 product with a 2-D weight (MatMul, Gemm, MatMulBias): on oneDNN's
/// matmul with the weight packed once, where the build has oneDNN. The weight must be constant,
/// which a kernel cannot see, so a weight is packed the second time the same array arrives (the
/// cache holds the array, so its storage cannot change or be reused in between); a product whose
/// B changes from call to call stays on GEMM. One primitive per row count (bounded).
/// Measured against oneDNN's sgemm (and OpenBLAS's sgemv up to 8 rows) per call, 1 thread, thread
/// CPU time: 0.6–0.9x the time for the bench's MLP, BERT-mini and ViT-Tiny shapes (bench/RESULTS.md).
final class MatMulBackendCache: @unchecked Sendable {
    #if canImport(CDNNL)
    private final class Entry {
        let matmul: DNNL.MatMul
        var packed: (source: [Float], buffer: DNNL.Buffer)?
        init(_ matmul: DNNL.MatMul) { self.matmul = matmul }
    }
    private let lock = NSLock()
    private var table = DNNLPrimitiveTable<DNNL.MatMulSpec, Entry>(limit: 16)
    /// The weight seen last and not packed yet.
    private var candidate: [Float]?
    #endif

    /// Whether products with a constant weight run on oneDNN's matmul (`BERTH_DNNL_MATMUL=0`:
    /// on GEMM per call, for A/B measurements).
    static let enabled: Bool = {
        #if canImport(CDNNL)
        return ProcessInfo.processInfo.environment["BERTH_DNNL_MATMUL"] != "0" && BLAS.gemmUsesDNNL
        #else
        return false
        #endif
    }()

    /// `c[m, n] = a[m, k] · op(w) (+ bias[n])`, with `w` stored [k, n] or ([n, k] when
    /// `transposedB`), then exact GELU when `gelu`; false when this call must use GEMM (the caller
    /// then computes it, and applies the GELU itself).
    func run(a: UnsafePointer<Float>, m: Int, k: Int, n: Int, w: [Float], transposedB: Bool, bias: [Float]?,
             c: UnsafeMutablePointer<Float>, gelu: Bool = false) -> Bool {
        #if canImport(CDNNL)
        // One output column (a regression head): a dot per row beats the primitive's fixed cost
        // (0.8 vs 0.3 µs for 32x128x1; 16 columns: 0.8 vs 1.3 µs).
        guard Self.enabled, m > 0, k > 0, n >= 16, w.count == k * n, bias == nil || bias?.count == n,
              let threads = BLAS.oneDNNGemmThreads else { return false }
        // One row stays on sgemv (the MLP at batch 1: 0.023 ms on the packed matmul against 0.017 ms,
        // release, 1 thread), but it still marks the weight as seen, so the first batched call after
        // it (a warm-up, a readiness probe) already runs packed, as every later one will.
        if m == 1 {
            lock.lock()
            defer { lock.unlock() }
            if !table.entries.values.contains(where: { $0.packed.map { sameStorage($0.source, w) } ?? false }) { candidate = w }
            return false
        }
        let spec = DNNL.MatMulSpec(m: m, k: k, n: n, transposedB: transposedB, hasBias: bias != nil, threads: threads, gelu: gelu)
        let entry: Entry
        let weights: DNNL.Buffer
        do {
            lock.lock()
            defer { lock.unlock() }
            guard let e = table.entry(spec, make: { Entry(try DNNL.MatMul(spec)) }) else { return false }
            entry = e
            if let p = entry.packed, sameStorage(p.source, w) {
                weights = p.buffer
            } else if let seen = candidate, sameStorage(seen, w) {
                guard let b = try? w.withUnsafeBufferPointer({ try entry.matmul.packWeights($0.baseAddress!) }) else { return false }
                entry.packed = (w, b)
                weights = b
            } else {
                candidate = w
                return false
            }
        }
        do {
            if let bias {
                try bias.withUnsafeBufferPointer { try entry.matmul.run(src: a, weights: weights, bias: $0.baseAddress, dst: c) }
            } else {
                try entry.matmul.run(src: a, weights: weights, bias: nil, dst: c)
            }
        } catch {
            return false
        }
        return true
        #else
        return false
        #endif
    }

    private func sameStorage(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in pa.baseAddress == pb.baseAddress } }
    }
}
