#if canImport(CDNNL)
@testable import BerthEngine
import CDNNL
import XCTest

/// oneDNN's Winograd convolution as a region asks for it (``BlockedConvLayout``, `ConvSpec.layout
/// = .winograd`: nChw16c, 3x3 stride 1) against a double-precision loop, with channel counts that
/// are not multiples of 16, with and without padding, at batch 1 (F(2x2,3x3)) and 3 (F(4x4,3x3)),
/// with the residual sum and Relu post-ops; and the layout choice's rules. Tolerance: 1e-5 of the
/// output's largest magnitude plus 1e-5 (the direct kernel's bound in SplitConvolutionTests; the
/// Winograd transforms measured ~1e-6 of the magnitude on ResNet-50's layers).
final class WinogradConvolutionTests: XCTestCase {
    func testBatchOneOddChannels() throws { try check(n: 1, c: 40, hw: 15, m: 48, pad: 1, sum: false) }
    func testBatchThreeUnpaddedOddOutput() throws { try check(n: 3, c: 48, hw: 15, m: 36, pad: 0, sum: false) }
    func testResidualSumAndRelu() throws { try check(n: 3, c: 32, hw: 14, m: 32, pad: 1, sum: true) }
    func testBatchOneResNetLayer() throws { try check(n: 1, c: 64, hw: 28, m: 64, pad: 1, sum: false) }

    func testChoiceRules() throws {
        try XCTSkipUnless(DNNL.isAvailable && BlockedConvLayout.winogradEnabled)
        func spec(n: Int = 1, c: Int = 64, hw: Int = 28, m: Int = 64, k: Int = 3, stride: Int = 1, group: Int = 1) -> DNNL.ConvSpec {
            let o = (hw + 2 * (k / 2) - k) / stride + 1
            return DNNL.ConvSpec(input: [n, c, hw, hw], output: [n, m, o, o], weights: [m, c / group, k, k], group: group,
                                 strides: [stride, stride], dilations: [1, 1], padsBegin: [k / 2, k / 2], padsEnd: [k / 2, k / 2],
                                 hasBias: true, sum: false, eltwise: [], blocked: true, threads: 1)
        }
        XCTAssertEqual(BlockedConvLayout.choice(for: spec(), input: nil), .winograd)
        XCTAssertEqual(BlockedConvLayout.choice(for: spec(stride: 2), input: nil), .any, "stride 2 is not a Winograd shape")
        XCTAssertEqual(BlockedConvLayout.choice(for: spec(c: 16), input: nil), .any, "too few channels")
        XCTAssertEqual(BlockedConvLayout.choice(for: spec(m: 32), input: nil), .any, "too few output channels")
        XCTAssertEqual(BlockedConvLayout.choice(for: spec(c: 32), input: nil), .winograd)
        XCTAssertEqual(BlockedConvLayout.choice(for: spec(hw: 7), input: nil), .any, "7x7 at batch 1: too few pixels")
        XCTAssertEqual(BlockedConvLayout.choice(for: spec(n: 4, hw: 7), input: nil), .winograd)
        XCTAssertEqual(BlockedConvLayout.choice(for: spec(group: 2), input: nil), .any, "grouped")
        if BlockedConvLayout.farLayouts && BlockedConvLayout.smallPlaneBlockedPixels >= 49 {
            let small = spec(c: 512, hw: 14, m: 512, stride: 2)
            XCTAssertEqual(BlockedConvLayout.choice(for: small, input: nil, poolThreads: 2, coresFar: true), .nChw16c,
                           "7x7 output, batch 1, far cores: channel pieces, each streaming half the weights")
            XCTAssertEqual(BlockedConvLayout.choice(for: small, input: nil, poolThreads: 2, coresFar: false), .any, "close cores: brgconv")
            XCTAssertEqual(BlockedConvLayout.choice(for: small, input: nil, poolThreads: 1, coresFar: true), .any, "one thread")
            XCTAssertEqual(BlockedConvLayout.choice(for: spec(c: 512, hw: 28, m: 512, stride: 2), input: nil, poolThreads: 2, coresFar: true), .any,
                           "14x14 output")
        }
        if BlockedConvLayout.depthwiseBlocked {
            XCTAssertEqual(BlockedConvLayout.choice(for: spec(n: 2, group: 64), input: nil), .nChw16c, "depthwise at batch 2")
            XCTAssertEqual(BlockedConvLayout.choice(for: spec(n: 1, group: 64), input: nil), .any, "depthwise at batch 1")
        }
        let pointwise = spec(k: 1)
        let sixteen = try DNNL.typedDesc(pointwise.input, dnnl_f32, dnnl_nChw16c)
        let nhwc = try DNNL.typedDesc(pointwise.input, dnnl_f32, dnnl_nhwc)
        XCTAssertEqual(BlockedConvLayout.choice(for: pointwise, input: sixteen), .nChw16c, "a 1x1 after nChw16c stays in it")
        XCTAssertEqual(BlockedConvLayout.choice(for: pointwise, input: nhwc), .any)
        let strided = spec(stride: 2)
        XCTAssertEqual(BlockedConvLayout.choice(for: strided, input: try DNNL.typedDesc(strided.input, dnnl_f32, dnnl_nChw16c)), .any,
                       "a 3x3 that is no Winograd shape goes back to brgconv")
    }

    private func check(n: Int, c: Int, hw: Int, m: Int, pad: Int, sum: Bool) throws {
        try XCTSkipUnless(DNNL.isAvailable)
        let ho = hw + 2 * pad - 2
        var state: UInt64 = 0x2545_F491_4F6C_DD1D &+ UInt64(n * 1000 + c * 10 + m)
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 1000
        }
        let x = (0..<(n * c * hw * hw)).map { _ in max(0, next()) }
        let w = (0..<(m * c * 9)).map { _ in next() * 0.2 }
        let b = (0..<m).map { _ in next() }
        let z = (0..<(n * m * ho * ho)).map { _ in next() }
        var spec = DNNL.ConvSpec(input: [n, c, hw, hw], output: [n, m, ho, ho], weights: [m, c, 3, 3], group: 1,
                                 strides: [1, 1], dilations: [1, 1], padsBegin: [pad, pad], padsEnd: [pad, pad],
                                 hasBias: true, sum: sum, eltwise: sum ? [.relu(slope: 0)] : [], blocked: true, threads: 1)
        spec.layout = .winograd
        let conv = try DNNL.Convolution(spec)
        XCTAssertTrue(conv.conv.implementation.contains("wino"), "oneDNN picked \(conv.conv.implementation)")
        let packed = try w.withUnsafeBufferPointer { try conv.packWeights($0.baseAddress!) }
        var y = sum ? z : [Float](repeating: 0, count: n * m * ho * ho)
        try x.withUnsafeBufferPointer { xb in
            try b.withUnsafeBufferPointer { bb in
                try y.withUnsafeMutableBufferPointer { try conv.run(src: xb.baseAddress!, weights: packed, bias: bb.baseAddress, dst: $0.baseAddress!) }
            }
        }
        var worst = 0.0, scale = 0.0
        for ni in 0..<n {
            for mi in 0..<m {
                for oy in 0..<ho {
                    for ox in 0..<ho {
                        var s = Double(b[mi])
                        for ci in 0..<c {
                            for ky in 0..<3 {
                                let iy = oy - pad + ky
                                guard iy >= 0, iy < hw else { continue }
                                for kx in 0..<3 {
                                    let ix = ox - pad + kx
                                    guard ix >= 0, ix < hw else { continue }
                                    s += Double(x[((ni * c + ci) * hw + iy) * hw + ix]) * Double(w[((mi * c + ci) * 3 + ky) * 3 + kx])
                                }
                            }
                        }
                        let o = ((ni * m + mi) * ho + oy) * ho + ox
                        if sum { s = max(0, s + Double(z[o])) }
                        scale = max(scale, abs(s))
                        worst = max(worst, abs(Double(y[o]) - s))
                    }
                }
            }
        }
        XCTAssertLessThanOrEqual(worst, 1e-5 * scale + 1e-5, "\(spec.input) → \(spec.output) sum \(sum)")
    }
}
#endif
