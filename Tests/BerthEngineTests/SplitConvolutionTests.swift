#if canImport(CDNNL)
@testable import BerthEngine
import CDNNL
import XCTest

/// ``SplitConvolution`` (a region's convolution in 1-thread pieces over the pool: batch slices,
/// output-row slices in NHWC, channel slices in nChw16c) against a double-precision loop, and
/// ``ThreadPool/forEachIndex(_:_:)``. Tolerance: 1e-5 of the output's largest magnitude plus 1e-5
/// (fp32 sums of up to 288 products, in the kernel's order).
final class SplitConvolutionTests: XCTestCase {
    func testForEachIndexRunsEveryIndexOnce() {
        for threads in [1, 2, 3] {
            let lock = NSLock()
            var seen = [Int](repeating: 0, count: 37)
            ThreadPool(threads: threads).forEachIndex(37) { i in
                lock.lock()
                seen[i] += 1
                lock.unlock()
            }
            XCTAssertEqual(seen, [Int](repeating: 1, count: 37), "\(threads) threads")
        }
    }

    func testBatchSlicesUneven() throws { try check(n: 3, c: 32, hw: 14, m: 48, k: 3, stride: 1, pad: 1, group: 1) }
    /// One input channel (NCHW and NHWC are the same bytes): batch pieces must get oneDNN's fast kernel.
    func testBatchSlicesOneInputChannel() throws { try check(n: 4, c: 1, hw: 28, m: 32, k: 3, stride: 1, pad: 1, group: 1) }
    func testBatchOneThreeByThree() throws { try check(n: 1, c: 64, hw: 28, m: 64, k: 3, stride: 1, pad: 1, group: 1) }
    func testBatchOneStrideTwoOddSize() throws { try check(n: 1, c: 32, hw: 29, m: 40, k: 3, stride: 2, pad: 1, group: 1) }
    func testBatchOnePointwise() throws { try check(n: 1, c: 96, hw: 20, m: 72, k: 1, stride: 1, pad: 0, group: 1) }
    func testBatchOneDepthwise() throws { try check(n: 1, c: 72, hw: 56, m: 72, k: 3, stride: 1, pad: 1, group: 72) }
    /// The MNIST CNN's 32→64 layer on Winograd (nChw16c: channel pieces, as in its region): small
    /// enough to keep its whole's weights, and run whole (the pool's cores far apart) it must
    /// compute what the pieces compute.
    func testBatchOneSmallRunsWholeWhenCoresAreFar() throws {
        try check(n: 1, c: 32, hw: 14, m: 64, k: 3, stride: 1, pad: 1, group: 1, far: true)
        try check(n: 1, c: 32, hw: 14, m: 64, k: 3, stride: 1, pad: 1, group: 1, far: false)
    }

    private func check(n: Int, c: Int, hw: Int, m: Int, k: Int, stride: Int, pad: Int, group: Int, far: Bool? = nil) throws {
        try XCTSkipUnless(DNNL.isAvailable)
        let ho = (hw + 2 * pad - k) / stride + 1
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(n * 1000 + c * 10 + m)
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 1000
        }
        let x = (0..<(n * c * hw * hw)).map { _ in next() }
        let w = (0..<(m * (c / group) * k * k)).map { _ in next() }
        let b = (0..<m).map { _ in next() }
        var spec = DNNL.ConvSpec(input: [n, c, hw, hw], output: [n, m, ho, ho], weights: [m, c / group, k, k], group: group,
                                 strides: [stride, stride], dilations: [1, 1], padsBegin: [pad, pad], padsEnd: [pad, pad],
                                 hasBias: true, sum: false, eltwise: [], blocked: true, threads: 1)
        if far != nil { spec.layout = DNNL.ConvLayout.winograd }
        let split = try XCTUnwrap(SplitConvolution(spec, weights: w, threads: 2), "oneDNN gave no sliceable layout for \(spec)")
        if far != nil { XCTAssertTrue(split.runsWholeWhenFar, "\(spec) keeps no whole weights") }
        let buffers = DNNL.BufferPool()
        let src = buffers.take(DNNL.size(split.srcMD))
        try x.withUnsafeBytes { try DNNL.reorder(from: DNNL.plainDesc(spec.input), to: split.srcMD).run($0.baseAddress!, src.pointer) }
        let dst = buffers.take(DNNL.size(split.dstMD))
        dst.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: dst.bytes)
        try b.withUnsafeBufferPointer {
            try split.run(src: src.pointer, bias: $0.baseAddress, dst: dst.pointer, buffers: buffers, pool: ThreadPool(threads: 2), coresFarApart: far)
        }
        var y = [Float](repeating: 0, count: n * m * ho * ho)
        try y.withUnsafeMutableBytes { try DNNL.reorder(from: split.dstMD, to: DNNL.plainDesc(spec.output)).run(dst.pointer, $0.baseAddress!) }

        var ref = [Double](repeating: 0, count: y.count)
        let cg = c / group, mg = m / group
        for ni in 0..<n {
            for mi in 0..<m {
                let g = mi / mg
                for oy in 0..<ho {
                    for ox in 0..<ho {
                        var s = Double(b[mi])
                        for ci in 0..<cg {
                            for ky in 0..<k {
                                let iy = oy * stride - pad + ky
                                guard iy >= 0, iy < hw else { continue }
                                for kx in 0..<k {
                                    let ix = ox * stride - pad + kx
                                    guard ix >= 0, ix < hw else { continue }
                                    s += Double(x[((ni * c + g * cg + ci) * hw + iy) * hw + ix]) * Double(w[((mi * cg + ci) * k + ky) * k + kx])
                                }
                            }
                        }
                        ref[((ni * m + mi) * ho + oy) * ho + ox] = s
                    }
                }
            }
        }
        let scale = ref.map(abs).max() ?? 1
        let worst = zip(y, ref).map { abs(Double($0) - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1e-5 * scale + 1e-5, "\(spec.input) → \(spec.output) group \(group)")
    }
}
#endif
