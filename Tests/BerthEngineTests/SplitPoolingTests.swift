#if canImport(CDNNL)
@testable import BerthEngine
import CDNNL
import XCTest

/// ``SplitPooling`` (a float region's batched pooling in slices over a 2-thread pool; built
/// directly here) against a double-precision loop written here: an odd batch (5 images in 4 slices of 1, 1, 1 and 2), an
/// odd size with padding and stride 2, 20 channels (nChw16c pads them to 32) and NHWC, max and
/// average (padding excluded and included). Max pooling must be exact; averages within 1e-6
/// relative (a float sum of 9 values divided once).
final class SplitPoolingTests: XCTestCase {
    func testMaxBlocked() throws { try check(kind: .max, tag: dnnl_nChw16c) }
    func testAverageExcludingPaddingNHWC() throws { try check(kind: .averageExcludingPadding, tag: dnnl_nhwc) }
    func testAverageIncludingPaddingBlocked() throws { try check(kind: .averageIncludingPadding, tag: dnnl_nChw16c) }

    private func check(kind: DNNL.PoolKind, tag: dnnl_format_tag_t) throws {
        try XCTSkipUnless(DNNL.isAvailable)
        let (n, c, hw, k, stride, pad) = (5, 20, 61, 3, 2, 1)
        let ho = (hw + 2 * pad - k) / stride + 1
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 1000
        }
        let x = (0..<(n * c * hw * hw)).map { _ in next() }
        let srcDims = [n, c, hw, hw], dstDims = [n, c, ho, ho]
        let srcMD = try DNNL.typedDesc(srcDims, dnnl_f32, tag)
        func make(_ src: dnnl_memory_desc_t, _ dst: dnnl_memory_desc_t?, _ sd: [Int], _ dd: [Int]) throws -> DNNL.LayoutPrimitive {
            try DNNL.pooling(src: src, srcDims: sd, dstDims: dd, kind: kind, kernel: [k, k], strides: [stride, stride], dilations: [1, 1],
                             padsBegin: [pad, pad], padsEnd: [pad, pad], dst: dst)
        }
        let whole = try make(srcMD, nil, srcDims, dstDims)
        whole.slices = try XCTUnwrap(SplitPooling(whole: whole, srcDims: srcDims, dstDims: dstDims, pool: ThreadPool(threads: 2)) { try make($0, $1, $2, $3) },
                                     "no batch slices for \(srcDims) in tag \(tag)")
        let buffers = DNNL.BufferPool()
        let src = buffers.take(DNNL.size(srcMD))
        try x.withUnsafeBytes { try DNNL.reorder(from: DNNL.plainDesc(srcDims), to: srcMD).run($0.baseAddress!, src.pointer) }
        let out = try whole.run([src.pointer], pool: buffers)
        var y = [Float](repeating: .nan, count: n * c * ho * ho)
        try y.withUnsafeMutableBytes { try DNNL.reorder(from: out.md, to: DNNL.plainDesc(dstDims)).run(out.buffer.pointer, $0.baseAddress!) }

        var worst = 0.0
        for ni in 0..<n { for ci in 0..<c { for oy in 0..<ho { for ox in 0..<ho {
            var best = -Double.infinity, sum = 0.0, count = 0
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
                guard iy >= 0, iy < hw, ix >= 0, ix < hw else { continue }
                let v = Double(x[((ni * c + ci) * hw + iy) * hw + ix])
                best = max(best, v)
                sum += v
                count += 1
            } }
            let want: Double
            switch kind {
            case .max: want = best
            case .averageExcludingPadding: want = sum / Double(count)
            case .averageIncludingPadding: want = sum / Double(k * k)
            }
            let got = Double(y[((ni * c + ci) * ho + oy) * ho + ox])
            worst = max(worst, abs(got - want))
        } } } }
        XCTAssertLessThanOrEqual(worst, kind == .max ? 0 : 1e-6, "\(kind) tag \(tag)")
    }
}
#endif
