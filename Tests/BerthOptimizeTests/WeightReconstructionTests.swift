@testable import BerthOptimize
import BerthTensor
import XCTest

/// The least-squares step of structured pruning against constructed references: a system with a
/// known solution, and layers whose output is an exact linear function of the kept inputs (the
/// Conv's computed by the convolution's definition, so the im2col indexing is checked too).
final class WeightReconstructionTests: XCTestCase {
    /// Deterministic values in [-1, 1).
    private struct Numbers {
        var state: UInt64
        mutating func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
        mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in Float(next()) } }
    }

    func testCholeskySolvesAPositiveDefiniteSystem() throws {
        var r = Numbers(state: 1)
        let rows = 40, n = 6, columns = 2
        let a = (0..<(rows * n)).map { _ in r.next() }
        let truth = (0..<(n * columns)).map { _ in r.next() }
        var g = [Double](repeating: 0, count: n * n), b = [Double](repeating: 0, count: n * columns)
        for i in 0..<n { for j in 0..<n { for k in 0..<rows { g[i * n + j] += a[k * n + i] * a[k * n + j] } } }
        for i in 0..<n { for c in 0..<columns { for j in 0..<n { b[i * columns + c] += g[i * n + j] * truth[j * columns + c] } } }
        let x = try XCTUnwrap(WeightReconstruction.choleskySolve(g, b, n: n, columns: columns))
        for (got, want) in zip(x, truth) { XCTAssertEqual(got, want, accuracy: 1e-9) }
        // Not positive definite: refused.
        XCTAssertNil(WeightReconstruction.choleskySolve([1, 2, 2, 1], [1, 1], n: 2, columns: 1))
    }

    func testDenseLayerRecoversTheExactLinearMap() throws {
        var r = Numbers(state: 2)
        let rows = 60, d = 3, units = 2
        let wTrue = r.floats(d * units), bTrue = r.floats(units), x = r.floats(rows * d)
        // The original output had 4 units; units 1 and 3 are kept.
        let keep = [1, 3]
        var y = [Float](repeating: 0, count: rows * 4)
        for i in 0..<rows {
            for (u, m) in keep.enumerated() {
                var s = bTrue[u]
                for j in 0..<d { s += x[i * d + j] * wTrue[j * units + u] }
                y[i * 4 + m] = s
            }
        }
        var arrays = ["w": FloatArray(shape: [d, units], values: r.floats(d * units)), "b": FloatArray(shape: [units], values: [0, 0])]
        let layer = WeightReconstruction.Layer(node: 0, label: "dense", input: "x", target: "y", weight: "w", unitAxis: 1, bias: "b", conv: nil)
        let o = try XCTUnwrap(WeightReconstruction.reconstruct(layer, x: Tensor(unchecked: [rows, d], storage: .float32(x)),
                                                              y: Tensor(unchecked: [rows, 4], storage: .float32(y)), keep: keep, arrays: &arrays))
        XCTAssertTrue(o.applied)
        XCTAssertLessThan(o.errorAfter, 1e-6 * o.errorBefore)
        // The ridge term (1e-4 of the mean diagonal) biases the solution by about that share.
        for (got, want) in zip(arrays["w"]!.values, wTrue) { XCTAssertEqual(got, want, accuracy: 2e-3) }
        for (got, want) in zip(arrays["b"]!.values, bTrue) { XCTAssertEqual(got, want, accuracy: 2e-3) }
    }

    func testConvLayerRecoversWeightsComputedByTheDefinition() throws {
        var r = Numbers(state: 3)
        let (n, c, h, w, m, k) = (4, 2, 5, 5, 3, 3)
        let wTrue = r.floats(m * c * k * k), bTrue = r.floats(m), x = r.floats(n * c * h * w)
        // Conv with pads 1, stride 1: y[b, o, i, j] = bias[o] + Σ x[b, ci, i + p − 1, j + q − 1] · w[o, ci, p, q].
        var y = [Float](repeating: 0, count: n * m * h * w)
        for b in 0..<n { for o in 0..<m { for i in 0..<h { for j in 0..<w {
            var s = bTrue[o]
            for ci in 0..<c { for p in 0..<k { for q in 0..<k {
                let yy = i + p - 1, xx = j + q - 1
                guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                s += x[((b * c + ci) * h + yy) * w + xx] * wTrue[((o * c + ci) * k + p) * k + q]
            } } }
            y[((b * m + o) * h + i) * w + j] = s
        } } } }
        var arrays = ["w": FloatArray(shape: [m, c, k, k], values: [Float](repeating: 0, count: m * c * k * k)),
                      "b": FloatArray(shape: [m], values: [Float](repeating: 0, count: m))]
        let geometry = WeightReconstruction.ConvGeometry(kernel: [k, k], strides: [1, 1], dilations: [1, 1], padsBegin: [1, 1])
        let layer = WeightReconstruction.Layer(node: 0, label: "conv", input: "x", target: "y", weight: "w", unitAxis: 0, bias: "b", conv: geometry)
        let o = try XCTUnwrap(WeightReconstruction.reconstruct(layer, x: Tensor(unchecked: [n, c, h, w], storage: .float32(x)),
                                                              y: Tensor(unchecked: [n, m, h, w], storage: .float32(y)), keep: nil, arrays: &arrays))
        XCTAssertTrue(o.applied)
        XCTAssertLessThan(o.errorAfter, 1e-5 * o.errorBefore)
        for (got, want) in zip(arrays["w"]!.values, wTrue) { XCTAssertEqual(got, want, accuracy: 5e-3) }
        for (got, want) in zip(arrays["b"]!.values, bTrue) { XCTAssertEqual(got, want, accuracy: 5e-3) }
    }
}
