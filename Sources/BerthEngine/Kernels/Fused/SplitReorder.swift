#if canImport(CDNNL)
import CDNNL
import Foundation

/// A region's layout change of one batch-1 image split in row bands over the intra-op pool: each
/// band is a reorder between sub-views of the two layouts (oneDNN's reorders take any strides),
/// so the threads write disjoint rows of the same output. The MobileNetV2 input (3x224x224, NCHW →
/// NHWC) took 44 µs on one thread beside 2-thread convolutions, and its 24x56x56 blocked → NHWC
/// changes 22 µs each. Only batch 1 (batched layouts change inside the batch slices) and from
/// ``minimumElements`` floats; `BERTH_SPLIT_REORDER=0` turns it off.
final class SplitReorder: @unchecked Sendable {
    static let enabled = ProcessInfo.processInfo.environment["BERTH_SPLIT_REORDER"] != "0"
    /// Floats below which a reorder runs whole (a 64k-float reorder takes a few µs, about what
    /// waking a thread costs).
    static let minimumElements = 1 << 16

    private let pieces: [DNNL.Reorder]

    /// Row bands of the reorder `from` → `to` (dims `dims`, NCHW order) for `threads` threads; nil
    /// when the split does not apply or oneDNN refuses a band.
    init?(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t, dims: [Int], threads: Int) {
        guard Self.enabled, threads > 1, dims.count == 4, dims[0] == 1, dims[2] >= threads,
              dims.reduce(1, *) >= Self.minimumElements else { return nil }
        var made: [DNNL.Reorder] = []
        for i in 0..<threads {
            let h0 = dims[2] * i / threads, h1 = dims[2] * (i + 1) / threads
            var band = dims
            band[2] = h1 - h0
            var parentFrom = from, parentTo = to
            var subFrom = dnnl_memory_desc_t(), subTo = dnnl_memory_desc_t()
            let (b, o) = (DNNL.padded(band), DNNL.padded([0, 0, h0, 0]))
            let ok = dnnl_memory_desc_init_submemory(&subFrom, &parentFrom, b, o) == dnnl_success
                && dnnl_memory_desc_init_submemory(&subTo, &parentTo, b, o) == dnnl_success
            guard ok, let r = try? DNNL.Reorder(from: subFrom, to: subTo), !r.primitive.implementation.hasPrefix("ref") else { return nil }
            made.append(r)
        }
        pieces = made
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: [DNNL.LayoutPair: SplitReorder?] = [:]

    /// The split of `from` → `to` for a pool of `threads`, made once per pair (bounded, as
    /// ``DNNL/reorder(from:to:)`` is); nil when it does not apply.
    static func cached(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t, dims: [Int], threads: Int) -> SplitReorder? {
        guard enabled, threads > 1, dims.count == 4, dims[0] == 1 else { return nil }
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
