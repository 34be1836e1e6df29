@testable import BerthEngine
import BerthONNX
import BerthTensor
import XCTest

/// A blocked-layout region called with input shapes that change from call to call (batch and
/// spatial size): a convolution finds its last call's spec again only for the same shapes, and a
/// MaxPool with ceil_mode works out its window (and the extra end padding) when its primitive is
/// made, per shape. Conv 3x3 (pad 1) → MaxPool 2x2 stride 2 ceil_mode → Conv 1x1, against a
/// double-precision forward pass written here; tolerance 1e-5 relative to the output's largest
/// magnitude (fp32 sums of at most 27 products in oneDNN's order against exact double sums).
final class BlockedRegionShapeChangeTests: XCTestCase {
    static let (c, m0, m1) = (3, 8, 5)

    static func values(_ n: Int, _ seed: Int) -> [Float] { (0..<n).map { Float(($0 * 37 + seed * 11) % 31) / 31 - 0.5 } }
    static let w0 = values(m0 * c * 9, 1), b0 = values(m0, 2), w1 = values(m1 * m0, 3), b1 = values(m1, 4)

    static func model() throws -> Model {
        let inits: [String: Tensor] = [
            "w0": try Tensor(shape: [m0, c, 3, 3], values: w0), "b0": try Tensor(shape: [m0], values: b0),
            "w1": try Tensor(shape: [m1, m0, 1, 1], values: w1), "b1": try Tensor(shape: [m1], values: b1),
        ]
        let nodes = [
            Node(name: "c0", opType: "Conv", inputs: ["x", "w0", "b0"], outputs: ["f0"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "p0", opType: "MaxPool", inputs: ["f0"], outputs: ["p0"],
                 attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]),
            Node(name: "c1", opType: "Conv", inputs: ["p0", "w1", "b1"], outputs: ["y"]),
        ]
        let g = Graph(name: "shapes", nodes: nodes, initializers: inits,
                      inputs: [ValueInfo(name: "x", dtype: .float32, shape: nil)], outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil)])
        return Model(irVersion: 8, opsetImports: ["": 13], graph: g)
    }

    /// The model in double precision, NCHW; returns the output and its shape.
    static func reference(_ x: [Float], n: Int, h: Int, w: Int) -> ([Double], [Int]) {
        var f = [Double](repeating: 0, count: n * m0 * h * w)
        for b in 0..<n { for o in 0..<m0 { for i in 0..<h { for j in 0..<w {
            var acc = Double(b0[o])
            for ci in 0..<c { for u in 0..<3 { for v in 0..<3 {
                let yy = i - 1 + u, xx = j - 1 + v
                guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                acc += Double(x[((b * c + ci) * h + yy) * w + xx]) * Double(w0[((o * c + ci) * 3 + u) * 3 + v])
            } } }
            f[((b * m0 + o) * h + i) * w + j] = acc
        } } } }
        // ceil_mode: a last window that starts inside the input covers what is left of it.
        let (ph, pw) = ((h - 2 + 1) / 2 + 1, (w - 2 + 1) / 2 + 1)
        var p = [Double](repeating: 0, count: n * m0 * ph * pw)
        for b in 0..<n { for o in 0..<m0 { for i in 0..<ph { for j in 0..<pw {
            var best = -Double.infinity
            for u in 0..<2 { for v in 0..<2 where 2 * i + u < h && 2 * j + v < w {
                best = max(best, f[((b * m0 + o) * h + 2 * i + u) * w + 2 * j + v])
            } }
            p[((b * m0 + o) * ph + i) * pw + j] = best
        } } } }
        var y = [Double](repeating: 0, count: n * m1 * ph * pw)
        for b in 0..<n { for o in 0..<m1 { for s in 0..<(ph * pw) {
            var acc = Double(b1[o])
            for ci in 0..<m0 { acc += p[(b * m0 + ci) * ph * pw + s] * Double(w1[o * m0 + ci]) }
            y[(b * m1 + o) * ph * pw + s] = acc
        } } }
        return (y, [n, m1, ph, pw])
    }

    func testShapesChangingBetweenCalls() throws {
        let session = try Session(model: Self.model(), options: SessionOptions(intraOpThreads: 1))
        if BlockedLayoutPass.enabled {
            let planned = BlockedLayoutPass().apply(session.model.graph).nodes
            XCTAssertEqual(planned.map(\.opType), [BlockedLayoutPass.opType], "the layers should run as one blocked region")
        }
        for (call, (n, h, w)) in [(1, 7, 7), (1, 7, 7), (2, 8, 8), (1, 7, 7), (1, 5, 6), (3, 5, 6), (1, 8, 8)].enumerated() {
            let x = Self.values(n * Self.c * h * w, call + 5).map { $0 * 3 }
            let y = try session.run(["x": try Tensor(shape: [n, Self.c, h, w], values: x)])["y"]!
            let (want, shape) = Self.reference(x, n: n, h: h, w: w)
            XCTAssertEqual(y.shape, shape, "call \(call)")
            let scale = max(1, want.map(abs).max() ?? 0)
            let diff = zip(y.floats, want).map { abs(Double($0) - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(diff, 1e-5 * scale, "call \(call), input \(n)x\(Self.c)x\(h)x\(w)")
        }
    }
}
