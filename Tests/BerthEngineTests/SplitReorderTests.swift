#if canImport(CDNNL)
@testable import BerthEngine
import CDNNL
import XCTest

/// ``SplitReorder`` (a layout change in row bands at batch 1, batch bands from an image per thread,
/// over the pool) against index arithmetic written here: NCHW → NHWC (MobileNetV2's input) and
/// nChw16c with 24 channels (padded to 32) → NHWC, odd heights and batches over 2 and 3 threads.
/// A reorder copies: the result must be exact, and the padding channels must not leak into the
/// NHWC output.
final class SplitReorderTests: XCTestCase {
    func testPlainToNHWCInTwoBands() throws { try check(c: 3, h: 225, w: 224, from: dnnl_nchw, threads: 2) }
    func testBlockedToNHWCInThreeBands() throws { try check(c: 24, h: 57, w: 56, from: dnnl_nChw16c, threads: 3) }
    func testBatchBandsOfAnOddBatch() throws { try check(n: 5, c: 24, h: 29, w: 28, from: dnnl_nChw16c, threads: 2) }
    func testPlainBatchInThreeBands() throws { try check(n: 7, c: 3, h: 60, w: 61, from: dnnl_nchw, threads: 3) }

    func testSmallOrThinBatchReordersAreNotSplit() throws {
        try XCTSkipUnless(DNNL.isAvailable)
        let small = [1, 3, 8, 8], batched = [2, 24, 56, 56]
        XCTAssertNil(SplitReorder(from: try DNNL.typedDesc(small, dnnl_f32, dnnl_nchw), to: try DNNL.typedDesc(small, dnnl_f32, dnnl_nhwc),
                                  dims: small, threads: 2))
        XCTAssertNil(SplitReorder(from: try DNNL.typedDesc(batched, dnnl_f32, dnnl_nchw), to: try DNNL.typedDesc(batched, dnnl_f32, dnnl_nhwc),
                                  dims: batched, threads: 3), "fewer images than threads")
    }

    private func check(n: Int = 1, c: Int, h: Int, w: Int, from tag: dnnl_format_tag_t, threads: Int) throws {
        try XCTSkipUnless(DNNL.isAvailable)
        let dims = [n, c, h, w]
        let x = (0..<(n * c * h * w)).map { Float($0 % 9973) - 4000 }
        let fromMD = try DNNL.typedDesc(dims, dnnl_f32, tag), toMD = try DNNL.typedDesc(dims, dnnl_f32, dnnl_nhwc)
        let buffers = DNNL.BufferPool()
        let src = buffers.take(DNNL.size(fromMD))
        // Padding channels of the blocked source hold garbage a correct band never copies.
        src.pointer.initializeMemory(as: Float.self, repeating: 7777, count: src.bytes / 4)
        try x.withUnsafeBytes { try DNNL.reorder(from: DNNL.plainDesc(dims), to: fromMD).run($0.baseAddress!, src.pointer) }
        let split = try XCTUnwrap(SplitReorder(from: fromMD, to: toMD, dims: dims, threads: threads), "no bands for \(dims)")
        var y = [Float](repeating: .nan, count: n * c * h * w)
        try y.withUnsafeMutableBytes { try split.run(src.pointer, $0.baseAddress!, pool: ThreadPool(threads: threads)) }
        var wrong = 0
        let image = c * h * w
        for ni in 0..<n {
            for ci in 0..<c {
                for yi in 0..<h {
                    for xi in 0..<w where y[ni * image + (yi * w + xi) * c + ci] != x[ni * image + (ci * h + yi) * w + xi] { wrong += 1 }
                }
            }
        }
        XCTAssertEqual(wrong, 0, "\(wrong) of \(x.count) values misplaced")
    }
}
#endif
