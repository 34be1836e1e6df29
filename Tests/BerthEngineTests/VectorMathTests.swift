import BerthEngine
import CVectorMath
import XCTest

/// The C softmax / exp-sum / LayerNorm rows (`CVectorMath`) on each of their paths — scalar, AVX2,
/// AVX-512 — against the definitions computed in double precision here. Tolerances: relative
/// 2e-6 + 1.2e-7·|d| on a softmax term or exp(d) (the exp is good to 2e-7; the float sums of up
/// to 1000 terms add a few ulp; the float argument d = x - shift carries up to |d|·2^-24 of
/// rounding, which exp turns into that much relative error), 1e-4 absolute on LayerNorm outputs of size ~3 (rows offset
/// by 100, so the float mean's rounding shows).
final class VectorMathTests: XCTestCase {
    /// Lengths around the 8- and 16-lane boundaries, and a few long rows (ViT attention has 197).
    private let lengths = [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 197, 1000]

    private func row(_ n: Int, spread: Float, seed: UInt64) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in (Float(g.next() % 20001) / 10000 - 1) * spread }
    }

    func testSoftmaxRowMatchesTheDefinitionOnEveryPath() {
        for n in lengths {
            for spread: Float in [0.5, 30, 200] {
                let x = row(n, spread: spread, seed: UInt64(n) &* 31 &+ UInt64(spread))
                let m = Double(x.max()!)
                let e = x.map { Foundation.exp(Double($0) - m) }
                let s = e.reduce(0, +)
                for isa in Int32(0)...2 {
                    var y = [Float](repeating: .nan, count: n)
                    berth_softmax_row_isa(isa, x, &y, n)
                    for i in 0..<n {
                        let want = e[i] / s
                        // exp(-88) and below is flushed to 0 on purpose (the true value is a denormal).
                        let d = abs(Double(x[i]) - m)
                        let tol = max((2e-6 + 1.2e-7 * d) * want, Foundation.exp(-87.0) / s)
                        XCTAssertEqual(Double(y[i]), want, accuracy: tol, "isa \(isa) n \(n) spread \(spread) i \(i)")
                    }
                    // In place gives the same bytes as out of place.
                    var z = x
                    z.withUnsafeMutableBufferPointer { berth_softmax_row_isa(isa, $0.baseAddress!, $0.baseAddress!, n) }
                    XCTAssertEqual(z, y, "isa \(isa) n \(n): in place differs")
                }
            }
        }
    }

    func testExpShiftedSumMatchesTheDefinitionOnEveryPath() {
        for n in lengths {
            let x = row(n, spread: 40, seed: UInt64(n) &+ 7)
            let shift: Float = 12.5
            let e = x.map { Foundation.exp(Double($0) - Double(shift)) }
            let want = e.reduce(0, +)
            for isa in Int32(0)...2 {
                var y = [Float](repeating: .nan, count: n)
                let sum = berth_exp_shifted_sum_isa(isa, x, &y, n, shift)
                let worst = x.map { abs(Double($0) - Double(shift)) }.max()!
                XCTAssertEqual(Double(sum), want, accuracy: (2e-6 + 1.2e-7 * worst) * want, "isa \(isa) n \(n)")
                XCTAssertEqual(Double(berth_exp_shifted_sum_only_isa(isa, x, n, shift)), Double(sum), accuracy: 0,
                               "isa \(isa) n \(n): the sum without stores differs")
                for i in 0..<n {
                    let tol = (2e-6 + 1.2e-7 * abs(Double(x[i]) - Double(shift))) * e[i]
                    XCTAssertEqual(Double(y[i]), e[i], accuracy: tol, "isa \(isa) n \(n) i \(i)")
                }
            }
        }
    }

    func testNaNPropagatesAndLargeArgumentsSaturate() {
        for isa in Int32(0)...2 {
            var x: [Float] = [1, 2, .nan, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
            var y = [Float](repeating: 0, count: x.count)
            berth_softmax_row_isa(isa, x, &y, x.count)
            // ONNX Runtime's softmax of a row with a NaN is NaN throughout.
            XCTAssertTrue(y.allSatisfy(\.isNaN), "isa \(isa): \(y)")
            x = [-1000, 0, -1000]
            y = [Float](repeating: .nan, count: 3)
            berth_softmax_row_isa(isa, x, &y, 3)
            XCTAssertEqual(y, [0, 1, 0], "isa \(isa)")
        }
    }

    func testLayerNormRowMatchesTheDefinitionOnEveryPath() {
        for n in lengths {
            let x = row(n, spread: 3, seed: UInt64(n) &* 5 &+ 1).map { $0 + 100 }  // an offset: two-pass variance
            let scale = row(n, spread: 2, seed: UInt64(n) &+ 99)
            let bias = row(n, spread: 1, seed: UInt64(n) &+ 3)
            let xd = x.map(Double.init)
            let mean = xd.reduce(0, +) / Double(n)
            let variance = xd.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            let epsilon: Float = 1e-5
            let inv = 1 / (variance + Double(epsilon)).squareRoot()
            for isa in Int32(0)...2 {
                for withBias in [true, false] {
                    var y = [Float](repeating: .nan, count: n)
                    var m: Float = 0, s: Float = 0
                    if withBias {
                        berth_layer_norm_row_isa(isa, x, &y, n, scale, bias, epsilon, &m, &s)
                    } else {
                        berth_layer_norm_row_isa(isa, x, &y, n, scale, nil, epsilon, &m, &s)
                    }
                    XCTAssertEqual(Double(m), mean, accuracy: 1e-4, "isa \(isa) n \(n)")
                    XCTAssertEqual(Double(s), inv, accuracy: 1e-4 * inv, "isa \(isa) n \(n)")
                    for i in 0..<n {
                        let want = (xd[i] - mean) * inv * Double(scale[i]) + (withBias ? Double(bias[i]) : 0)
                        XCTAssertEqual(Double(y[i]), want, accuracy: 1e-4, "isa \(isa) n \(n) i \(i) bias \(withBias)")
                    }
                }
            }
        }
    }
}
