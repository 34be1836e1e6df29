import BerthTensor
import Foundation

/// Per-node state for a float32 product with a 2-D weight (MatMul, Gemm, MatMulBias): on oneDNN's
/// matmul with the weight packed once, where the build has oneDNN. The weight must be constant:
/// an initializer (the plan says so, ``PlanFacts``) is packed on its first arrival, any other
/// weight the second time the same array arrives (the cache holds the array, so its storage
/// cannot change or be reused in between); a product whose B changes from call to call stays on GEMM. One primitive per row count (bounded).
/// Measured against oneDNN's sgemm (and OpenBLAS's sgemv up to 8 rows) per call, 1 thread, thread
/// CPU time: 0.6–0.9x the time for the bench's MLP, BERT-mini and ViT-Tiny shapes (bench/RESULTS.md).
final class MatMulBackendCache: @unchecked Sendable {
    #if canImport(CDNNL)
    private final class Entry {
        let matmul: DNNL.MatMul
        var packed: (source: [Float], buffer: DNNL.Buffer)?
        /// Primitives for row pieces (by row count) reading `matmul`'s packed weights.
        var pieces: [Int: DNNL.MatMul] = [:]
        /// Column pieces, each with its own columns of the weight packed (see ``ColumnSplit``).
        var columns: (source: [Float], split: ColumnSplit)?
        init(_ matmul: DNNL.MatMul) { self.matmul = matmul }

        /// The primitive for `rows` rows of this product, made once.
        func piece(_ rows: Int) -> DNNL.MatMul? {
            if rows == matmul.spec.m { return matmul }
            if let p = pieces[rows] { return p }
            var spec = matmul.spec
            spec.m = rows
            guard let p = try? DNNL.MatMul(spec, weights: matmul.weightsMD) else { return nil }
            if pieces.count >= 8 { pieces.removeAll() }
            pieces[rows] = p
            return p
        }
    }
    private let lock = NSLock()
    private var table = DNNLPrimitiveTable<DNNL.MatMulSpec, Entry>(limit: 16)
    /// The weight seen last and not packed yet.
    private var candidate: [Float]?
    #endif
    /// The weight is an initializer (known at plan time): packed on its first arrival.
    private let constantWeight: Bool
    /// One row (batch 1) on the packed AVX-512 row product (``PackedRowProduct``).
    private let rows: PackedRowProduct

    init(constantWeight: Bool = false) {
        self.constantWeight = constantWeight
        rows = PackedRowProduct(constantWeight: constantWeight)
    }

    /// Packed products below this many multiply-adds run on one thread (`BERTH_SPLIT_MIN_WORK`):
    /// a piece's primitive call and a thread's wake-up cost about what 2^19 multiply-adds take
    /// since the pool hands loops off without a lock (was 2^21: the MLP's 256→128 layer at batch 32,
    /// 2^20, then ran on one thread; split, the MLP at batch 32 on 2 threads went 48 → 45 µs).
    static let splitMinimumWork = Int(ProcessInfo.processInfo.environment["BERTH_SPLIT_MIN_WORK"] ?? "") ?? (1 << 20)

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
    /// `transposedB`), then exact GELU when `gelu` or Relu when `relu`; false when this call must
    /// use GEMM (the caller then computes it, and applies the activation itself). `pool`: the
    /// threads a product is split over (nil: ``BLAS/pool``, the session's).
    func run(a: UnsafePointer<Float>, m: Int, k: Int, n: Int, w: [Float], transposedB: Bool, bias: [Float]?,
             c: UnsafeMutablePointer<Float>, gelu: Bool = false, relu: Bool = false, pool: ThreadPool? = nil) -> Bool {
        // One row: the packed row product where the CPU has AVX-512 (a few columns stay on a dot
        // per column: a 64-column panel would mostly read padding).
        if m == 1, !gelu, n >= 16, PackedRowProduct.enabled, bias == nil || bias?.count == n {
            let done = bias.map { b in
                b.withUnsafeBufferPointer { rows.run(a: a, k: k, n: n, w: w, transposedB: transposedB, bias: $0.baseAddress, relu: relu, c: c, pool: pool ?? BLAS.pool) }
            } ?? rows.run(a: a, k: k, n: n, w: w, transposedB: transposedB, bias: nil, relu: relu, c: c, pool: pool ?? BLAS.pool)
            if done { return true }
        }
        #if canImport(CDNNL)
        // One output column (a regression head): a dot per row beats the primitive's fixed cost
        // (0.8 vs 0.3 µs for 32x128x1; 16 columns: 0.8 vs 1.3 µs).
        guard Self.enabled, m > 0, k > 0, n >= 16, w.count == k * n, bias == nil || bias?.count == n else { return false }
        let threads = BLAS.oneDNNGemmThreads
        // One row stays on sgemv (the MLP at batch 1: 0.023 ms on the packed matmul against 0.017 ms,
        // release, 1 thread), but it still marks the weight as seen, so the first batched call after
        // it (a warm-up, a readiness probe) already runs packed, as every later one will.
        if m == 1 {
            lock.lock()
            defer { lock.unlock() }
            if !table.entries.values.contains(where: { $0.packed.map { sameStorage($0.source, w) } ?? false }) { candidate = w }
            return false
        }
        let spec = DNNL.MatMulSpec(m: m, k: k, n: n, transposedB: transposedB, hasBias: bias != nil, threads: threads, gelu: gelu, relu: relu)
        let entry: Entry
        let weights: DNNL.Buffer
        // Several intra-op threads without OpenMP teams: row pieces of 1-thread primitives on
        // the pool (see BLAS.sgemm), all reading the one packed weight.
        var split: (pool: ThreadPool, pieces: Int)?
        if threads == 1, let pool = pool ?? BLAS.pool, pool.threads > 1, m >= 16,
           Double(m) * Double(n) * Double(k) >= Double(Self.splitMinimumWork) {
            split = (pool, min(2 * pool.threads, m / 8))
        }
        // Few rows and a wide weight: column pieces instead, so each thread reads only its part
        // of the weight (the MLP's 1 MB layer at batch 32 from each core's L2, not both cores
        // streaming all of it).
        let splitPool = pool ?? BLAS.pool
        let columnPieces = threads == 1 && splitPool != nil ? ColumnSplit.pieces(m: m, k: k, n: n, threads: splitPool!.threads) : 0
        if columnPieces > 1, let splitPool {
            let columns: ColumnSplit
            do {
                lock.lock()
                defer { lock.unlock() }
                guard let e = table.entry(spec, make: { Entry(try DNNL.MatMul(spec)) }) else { return false }
                guard let made = packedOnce(e.columns.map { ($0.source, $0.split) }, w, pack: {
                    try w.withUnsafeBufferPointer { try ColumnSplit(spec, pieces: columnPieces, weights: $0.baseAddress!) }
                }, store: { e.columns = (w, $0) }) else { return false }
                columns = made
            }
            if let bias {
                return bias.withUnsafeBufferPointer { columns.run(a: a, bias: $0.baseAddress, c: c, pool: splitPool) }
            }
            return columns.run(a: a, bias: nil, c: c, pool: splitPool)
        }
        var pieces: [DNNL.MatMul] = []
        do {
            lock.lock()
            defer { lock.unlock() }
            guard let e = table.entry(spec, make: { Entry(try DNNL.MatMul(spec)) }) else { return false }
            entry = e
            guard let b = packedOnce(entry.packed.map { ($0.source, $0.buffer) }, w, pack: {
                try w.withUnsafeBufferPointer { try entry.matmul.packWeights($0.baseAddress!) }
            }, store: { entry.packed = (w, $0) }) else { return false }
            weights = b
            if let split {
                for i in 0..<split.pieces {
                    guard let p = entry.piece(m * (i + 1) / split.pieces - m * i / split.pieces) else { return false }
                    pieces.append(p)
                }
            }
        }
        if let split {
            let failed = FailureFlag()
            func runPieces(_ b: UnsafePointer<Float>?) {
                split.pool.forEachIndex(split.pieces) { i in
                    let r0 = m * i / split.pieces
                    do { try pieces[i].run(src: a + r0 * k, weights: weights, bias: b, dst: c + r0 * n) } catch { failed.set() }
                }
            }
            if let bias { bias.withUnsafeBufferPointer { runPieces($0.baseAddress) } } else { runPieces(nil) }
            return !failed.isSet
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

    #if canImport(CDNNL)
    /// With `lock` held: `cached` when it was made from `w`'s storage; else made by `pack` (and
    /// kept by `store`) when the weight is known constant (an initializer, or the same array a
    /// second time); else nil, remembering `w` as the candidate (the call then runs on GEMM).
    private func packedOnce<T>(_ cached: (source: [Float], value: T)?, _ w: [Float], pack: () throws -> T, store: (T) -> Void) -> T? {
        if let cached, sameStorage(cached.source, w) { return cached.value }
        guard constantWeight || candidate.map({ sameStorage($0, w) }) == true else {
            candidate = w
            return nil
        }
        guard let made = try? pack() else { return nil }
        store(made)
        return made
    }
    #endif

    private func sameStorage(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in pa.baseAddress == pb.baseAddress } }
    }
}
