#if canImport(CDNNL)
import CDNNL
import Foundation

/// A region's layout change split over the intra-op pool: a batch-1 image in row bands, a batch
/// of at least as many images as threads in batch bands. Each band is a reorder between sub-views
/// of the two layouts (oneDNN's reorders take any strides), so the threads write disjoint parts of
/// the same output. The MobileNetV2 input (3x224x224, NCHW → NHWC) took 44 µs on one thread beside
/// 2-thread convolutions, and its 24x56x56 blocked → NHWC changes 22 µs each; the MNIST CNN at
/// batch 32 (its region runs unsliced: small images) changes 32x32x14x14 NHWC → nChw16c before its
/// Winograd layer. From ``minimumElements`` floats; `BERTH_SPLIT_REORDER=0` turns it off.
final class SplitReorder: @unchecked Sendable {
    static let enabled = ProcessInfo.processInfo.environment["BERTH_SPLIT_REORDER"] != "0"
    /// Floats below which a reorder runs whole (a 64k-float reorder takes a few µs, about what
    /// waking a thread costs).
    static let minimumElements = 1 << 16

    private let pieces: [DNNL.Reorder]

    /// Row bands (batch 1) or batch bands of the reorder `from` → `to` (dims `dims`, NCHW order)
    /// for `threads` threads; nil when the split does not apply or oneDNN refuses a band.
    init?(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t, dims: [Int], threads: Int) {
        guard Self.enabled, threads > 1, let axis = Self.axis(dims, threads: threads), dims[axis] >= threads,
              dims.reduce(1, *) >= Self.minimumElements else { return nil }
        var made: [DNNL.Reorder] = []
        for i in 0..<threads {
            let a0 = dims[axis] * i / threads, a1 = dims[axis] * (i + 1) / threads
            var band = dims, offset = [0, 0, 0, 0]
            band[axis] = a1 - a0
            offset[axis] = a0
            var parentFrom = from, parentTo = to
            var subFrom = dnnl_memory_desc_t(), subTo = dnnl_memory_desc_t()
            let (b, o) = (DNNL.padded(band), DNNL.padded(offset))
            let ok = dnnl_memory_desc_init_submemory(&subFrom, &parentFrom, b, o) == dnnl_success
                && dnnl_memory_desc_init_submemory(&subTo, &parentTo, b, o) == dnnl_success
            guard ok, let r = try? DNNL.Reorder(from: subFrom, to: subTo), !r.primitive.implementation.hasPrefix("ref") else { return nil }
            made.append(r)
        }
        pieces = made
    }

    /// The axis the bands cut: rows at batch 1, the batch when it has an image per thread; nil else.
    private static func axis(_ dims: [Int], threads: Int) -> Int? {
        guard dims.count == 4 else { return nil }
        return dims[0] == 1 ? 2 : dims[0] >= threads ? 0 : nil
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: [DNNL.LayoutPair: SplitReorder?] = [:]

    /// The split of `from` → `to` for a pool of `threads`, made once per pair (bounded, as
    /// ``DNNL/reorder(from:to:)`` is); nil when it does not apply.
    static func cached(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t, dims: [Int], threads: Int) -> SplitReorder? {
        guard enabled, threads > 1, axis(dims, threads: threads) != nil else { return nil }
        let key = DNNL.LayoutPair(from: from, to: to)
        lock.lock()
        defer { lock.unlock() }
        if let known = made[key], known?.pieces.count ?? threads == threads { return known }
        if made.count >= 256 { made.removeAll() }
        let split = SplitReorder(from: from, to: to, dims: dims, threads: threads)
        made[key] = .some(split)
        return split
    }

    /// Runs the bands on `pool`: `src` and `dst` are the whole tensors' base pointers.
    func run(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, pool: ThreadPool) throws {
        try DNNL.runPieces(pieces.count, on: pool, call: "split reorder") { i in try pieces[i].run(src, dst) }
    }
}
#endif
