@testable import BerthEngine
import BerthONNX
import BerthTensor
import XCTest

/// A blocked-layout region's buffer reuse across calls: DenseNet-style layers (Conv, Concat,
/// LeakyRelu over a dying Concat and BatchNormalization → Relu written over their inputs, the
/// Relu folded into the normalization) run by one session at batch sizes that go up and down, so
/// buffers handed back by one call are taken best-fit by the next (larger than asked, holding
/// an earlier call's data, channels padded to the block). Each call is checked against a
/// double-precision forward pass written here. Tolerance 1e-5 relative to the output's largest
/// magnitude (fp32 sums of at most 32·9 products in oneDNN's order against exact double sums).
/// Against ONNX Runtime: tests/python/test_blocked_layout.py.
final class BlockedRegionReuseTests: XCTestCase {
    static let (c, h, w) = (5, 6, 7)

    static func values(_ n: Int, _ seed: Int) -> [Float] { (0..<n).map { Float(($0 * 37 + seed * 11) % 31) / 31 - 0.5 } }

    /// Conv weights [m, c, k, k] and bias [m].
    static let convs: [String: (m: Int, c: Int, k: Int)] = ["c0": (20, 5, 3), "c1": (12, 20, 1), "c2": (9, 32, 3)]
    static let bns: [String: Int] = ["n0": 20, "n1": 32]

    static func bnParams(_ name: String) -> (scale: [Float], bias: [Float], mean: [Float], variance: [Float]) {
        let n = bns[name]!
        let seed = name == "n0" ? 40 : 50
        return (values(n, seed).map { 1 + $0 }, values(n, seed + 1), values(n, seed + 2), values(n, seed + 3).map { 0.5 + abs($0) })
    }

    static func model() throws -> Model {
        var inits: [String: Tensor] = [:]
        for (name, s) in convs {
            inits[name + ".w"] = try Tensor(shape: [s.m, s.c, s.k, s.k], values: values(s.m * s.c * s.k * s.k, s.m + s.k))
            inits[name + ".b"] = try Tensor(shape: [s.m], values: values(s.m, s.c))
        }
        for name in bns.keys {
            let p = bnParams(name)
            for (suffix, v) in [("s", p.scale), ("b", p.bias), ("m", p.mean), ("v", p.variance)] {
                inits["\(name).\(suffix)"] = try Tensor(shape: [v.count], values: v)
            }
        }
        func conv(_ x: String, _ name: String, _ y: String) -> Node {
            let pad = convs[name]!.k / 2
            return Node(name: name, opType: "Conv", inputs: [x, name + ".w", name + ".b"], outputs: [y],
                        attributes: ["pads": .ints(Array(repeating: pad, count: 4))])
        }
        func bn(_ x: String, _ name: String, _ y: String) -> Node {
            Node(name: name, opType: "BatchNormalization", inputs: [x] + ["s", "b", "m", "v"].map { "\(name).\($0)" }, outputs: [y])
        }
        let nodes = [
            conv("x", "c0", "f0"),
            bn("f0", "n0", "b0"), Node(name: "r0", opType: "Relu", inputs: ["b0"], outputs: ["r0"]),
            conv("r0", "c1", "g1"),
            Node(name: "cat", opType: "Concat", inputs: ["f0", "g1"], outputs: ["f1"], attributes: ["axis": .int(1)]),
            Node(name: "lr", opType: "LeakyRelu", inputs: ["f1"], outputs: ["l1"], attributes: ["alpha": .float(0.25)]),
            bn("l1", "n1", "b1"), Node(name: "r1", opType: "Relu", inputs: ["b1"], outputs: ["r1"]),
            conv("r1", "c2", "y"),
        ]
        let g = Graph(name: "dense", nodes: nodes, initializers: inits,
                      inputs: [ValueInfo(name: "x", dtype: .float32, shape: nil)], outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil)])
        return Model(irVersion: 8, opsetImports: ["": 13], graph: g)
    }

    // MARK: - Double-precision reference, NCHW

    static func conv(_ x: [Double], n: Int, _ name: String) -> [Double] {
        let s = convs[name]!, pad = s.k / 2
        let wt = values(s.m * s.c * s.k * s.k, s.m + s.k), b = values(s.m, s.c)
        var y = [Double](repeating: 0, count: n * s.m * h * w)
        for bi in 0..<n { for o in 0..<s.m { for i in 0..<h { for j in 0..<w {
            var acc = Double(b[o])
            for ci in 0..<s.c { for u in 0..<s.k { for v in 0..<s.k {
                let yy = i - pad + u, xx = j - pad + v
                guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                acc += x[((bi * s.c + ci) * h + yy) * w + xx] * Double(wt[((o * s.c + ci) * s.k + u) * s.k + v])
            } } }
            y[((bi * s.m + o) * h + i) * w + j] = acc
        } } } }
        return y
    }

    static func bnRelu(_ x: [Double], n: Int, _ name: String) -> [Double] {
        let p = bnParams(name), ch = bns[name]!
        var y = x
        for i in y.indices {
            let cc = (i / (h * w)) % ch
            let v = (x[i] - Double(p.mean[cc])) / (Double(p.variance[cc]) + 1e-5).squareRoot() * Double(p.scale[cc]) + Double(p.bias[cc])
            y[i] = max(v, 0)
        }
        return y
    }

    static func reference(_ x: [Float], n: Int) -> [Double] {
        let f0 = conv(x.map { Double($0) }, n: n, "c0")
        let g1 = conv(bnRelu(f0, n: n, "n0"), n: n, "c1")
        var f1: [Double] = []
        let plane = h * w
        for b in 0..<n {
            f1 += f0[(b * 20 * plane)..<((b + 1) * 20 * plane)]
            f1 += g1[(b * 12 * plane)..<((b + 1) * 12 * plane)]
        }
        let l1 = f1.map { $0 < 0 ? 0.25 * $0 : $0 }
        return conv(bnRelu(l1, n: n, "n1"), n: n, "c2")
    }

    func testBuffersReusedAcrossBatchSizesKeepResultsExact() throws {
        let session = try Session(model: Self.model(), options: SessionOptions(intraOpThreads: 1))
        if BlockedLayoutPass.enabled {
            let planned = BlockedLayoutPass().apply(session.model.graph).nodes
            XCTAssertEqual(planned.map(\.opType), [BlockedLayoutPass.opType], "the layers should run as one blocked region")
        }
        for (call, n) in [2, 1, 3, 3, 1, 2, 3].enumerated() {
            let x = Self.values(n * Self.c * Self.h * Self.w, call + 1).map { $0 * 3 }
            let y = try session.run(["x": try Tensor(shape: [n, Self.c, Self.h, Self.w], values: x)])["y"]!
            XCTAssertEqual(y.shape, [n, 9, Self.h, Self.w], "call \(call)")
            let want = Self.reference(x, n: n)
            let scale = max(1, want.map(abs).max() ?? 0)
            let diff = zip(y.floats, want).map { abs(Double($0) - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(diff, 1e-5 * scale, "call \(call), batch \(n)")
        }
    }
}
