import CFloatKernels
import Foundation

/// One row times a constant 2-D weight (MatMul, Gemm, MatMulBias at batch 1) on an AVX-512 kernel
/// over the weight packed once into panels of 64 columns (`CFloatKernels`), bias and Relu applied
/// in registers. With several intra-op threads the panels are shared out over the pool, so each
/// thread streams only its part of the weight. Measured against OpenBLAS's sgemv (AVX2 kernels,
/// `OPENBLAS_CORETYPE=Haswell`), 1 thread, weight hot: 3136x128 13.5 vs 17 µs, 1000x256 8 vs 10 µs.
/// The weight must be constant: an initializer is packed on its first arrival, any other weight
/// the second time the same array arrives (the product holds the array, so its storage cannot
/// change in between). `BERTH_PACKED_ROWS=0` turns it off (the product then runs as before).
final class PackedRowProduct: @unchecked Sendable {
    /// On unless `BERTH_PACKED_ROWS=0`, and only where the CPU has AVX-512F.
    static let enabled = ProcessInfo.processInfo.environment["BERTH_PACKED_ROWS"] != "0" && berth_row_product_available() != 0

    /// Weights above this many floats (4 MB, twice a core's L2 here) stay on BLAS: the packed copy
    /// is kept beside the original, and a large layer streamed from memory gains little from it.
    static let maximumWeightFloats = 1 << 20

    /// Columns per panel (one piece of a split is whole panels).
    static let panel = Int(BERTH_ROW_PRODUCT_PANEL)

    /// A packed weight; freed with its last reader (a call may still run on one being replaced).
    private final class Packed {
        let source: [Float]
        let k: Int, n: Int, transposed: Bool
        let pointer: UnsafeMutablePointer<Float>
        init(_ w: [Float], k: Int, n: Int, transposed: Bool) {
            source = w
            (self.k, self.n, self.transposed) = (k, n, transposed)
            let count = berth_row_product_packed_count(k, n)
            pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            w.withUnsafeBufferPointer { berth_row_product_pack($0.baseAddress!, transposed ? k : n, transposed ? 1 : 0, k, n, pointer) }
        }
        deinit { pointer.deallocate() }
    }

    private let lock = NSLock()
    private var packed: Packed?
    /// The weight seen last and not packed yet.
    private var candidate: [Float]?
    private let constantWeight: Bool

    init(constantWeight: Bool) { self.constantWeight = constantWeight }

    /// `c[n] = a[k] · op(w) (+ bias[n])`, then Relu when `relu`; `w` stored [k, n], or [n, k] when
    /// `transposedB`. False when this call must run elsewhere (the kernel is off, or the weight is
    /// not known constant yet); `c` is then untouched.
    func run(a: UnsafePointer<Float>, k: Int, n: Int, w: [Float], transposedB: Bool, bias: UnsafePointer<Float>?, relu: Bool,
             c: UnsafeMutablePointer<Float>, pool: ThreadPool?) -> Bool {
        guard Self.enabled, k > 0, n > 0, w.count == k * n, w.count <= Self.maximumWeightFloats, let p = weight(w, k: k, n: n, transposed: transposedB) else { return false }
        let panels = (n + Self.panel - 1) / Self.panel
        // Split when halving the weight's read pays for waking a thread (sgemv's rule, BLAS.gemvSplitMinimumWork).
        if let pool, pool.threads > 1, panels > 1, Double(k) * Double(n) >= Double(BLAS.gemvSplitMinimumWork) {
            let pieces = min(panels, pool.threads)
            pool.forEachIndex(pieces) { i in
                berth_row_product(p.pointer, k, n, a, bias, c, panels * i / pieces, panels * (i + 1) / pieces, relu ? 1 : 0)
            }
        } else {
            berth_row_product(p.pointer, k, n, a, bias, c, 0, panels, relu ? 1 : 0)
        }
        return true
    }

    /// The packed form of `w`: the cached one when made from `w`'s storage; else packed now when
    /// the weight is known constant (an initializer, or the same array a second time); else nil,
    /// remembering `w`.
    private func weight(_ w: [Float], k: Int, n: Int, transposed: Bool) -> Packed? {
        lock.lock()
        defer { lock.unlock() }
        if let p = packed, p.k == k, p.n == n, p.transposed == transposed, Self.sameStorage(p.source, w) { return p }
        guard constantWeight || candidate.map({ Self.sameStorage($0, w) }) == true else {
            candidate = w
            return nil
        }
        candidate = nil
        let made = Packed(w, k: k, n: n, transposed: transposed)
        packed = made
        return made
    }

    private static func sameStorage(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in pa.baseAddress == pb.baseAddress } }
    }
}
