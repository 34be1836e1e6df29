@testable import BerthEngine
import BerthONNX
import BerthTensor
#if canImport(CDNNL)
import CDNNL
#endif
import XCTest

/// A region's 1x1 convolution + Relu fused with the 3x3 depthwise convolution + Relu after it
/// (``PointwiseDepthwiseFusion``, oneDNN's dw post-op in nChw16c), then a 1x1 projection, against a
/// double-precision forward pass written here: stride 1 and 2 on an odd 57x55 image, 16 → 96 → 8
/// channels (the expanded tensor, 1.2 MB, is above the size from which oneDNN fuses), at batch 1 (fused on one
/// thread) and 3 (run apart), and the same session called again (weights packed once).
/// Tolerance 1e-5 of the output's largest magnitude (fp32 sums of at most 96 products in oneDNN's
/// order against exact double sums). Against ONNX Runtime: tests/python/test_pointwise_depthwise.py.
final class PointwiseDepthwiseFusionTests: XCTestCase {
    static let (c, e, m, h, w) = (16, 96, 8, 57, 55)

    static func values(_ n: Int, _ seed: Int) -> [Float] { (0..<n).map { Float(($0 * 37 + seed * 11) % 29) / 29 - 0.5 } }

    static func model(stride: Int) throws -> Model {
        let inits: [String: Tensor] = [
            "p.w": try Tensor(shape: [e, c, 1, 1], values: values(e * c, 1).map { $0 * 0.5 }), "p.b": try Tensor(shape: [e], values: values(e, 2)),
            "d.w": try Tensor(shape: [e, 1, 3, 3], values: values(e * 9, 3)), "d.b": try Tensor(shape: [e], values: values(e, 4)),
            "q.w": try Tensor(shape: [m, e, 1, 1], values: values(m * e, 5).map { $0 * 0.2 }),
        ]
        let nodes = [
            Node(name: "p", opType: "Conv", inputs: ["x", "p.w", "p.b"], outputs: ["pe"]),
            Node(name: "pr", opType: "Relu", inputs: ["pe"], outputs: ["pr"]),
            Node(name: "d", opType: "Conv", inputs: ["pr", "d.w", "d.b"], outputs: ["de"],
                 attributes: ["pads": .ints([1, 1, 1, 1]), "strides": .ints([stride, stride]), "group": .int(e)]),
            Node(name: "dr", opType: "Relu", inputs: ["de"], outputs: ["dr"]),
            Node(name: "q", opType: "Conv", inputs: ["dr", "q.w"], outputs: ["y"]),
        ]
        let g = Graph(name: "pwdw", nodes: nodes, initializers: inits,
                      inputs: [ValueInfo(name: "x", dtype: .float32, shape: nil)], outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil)])
        return Model(irVersion: 8, opsetImports: ["": 13], graph: g)
    }

    /// The same network in doubles, NCHW.
    static func reference(_ x: [Float], n: Int, stride: Int) -> [Double] {
        let pw = values(e * c, 1).map { Double($0) * 0.5 }, pb = values(e, 2), dw = values(e * 9, 3), db = values(e, 4)
        let qw = values(m * e, 5).map { Double($0) * 0.2 }
        let (oh, ow) = ((h - 1) / stride + 1, (w - 1) / stride + 1)
        var y = [Double](repeating: 0, count: n * m * oh * ow)
        for b in 0..<n {
            var ex = [Double](repeating: 0, count: e * h * w)
            for o in 0..<e { for p in 0..<(h * w) {
                var acc = Double(pb[o])
                for i in 0..<c { acc += pw[o * c + i] * Double(x[(b * c + i) * h * w + p]) }
                ex[o * h * w + p] = max(acc, 0)
            } }
            var d = [Double](repeating: 0, count: e * oh * ow)
            for o in 0..<e { for i in 0..<oh { for j in 0..<ow {
                var acc = Double(db[o])
                for u in 0..<3 { for v in 0..<3 {
                    let yy = i * stride - 1 + u, xx = j * stride - 1 + v
                    guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                    acc += Double(dw[o * 9 + u * 3 + v]) * ex[(o * h + yy) * w + xx]
                } }
                d[(o * oh + i) * ow + j] = max(acc, 0)
            } } }
            for o in 0..<m { for p in 0..<(oh * ow) {
                var acc = 0.0
                for i in 0..<e { acc += qw[o * e + i] * d[i * oh * ow + p] }
                y[(b * m + o) * oh * ow + p] = acc
            } }
        }
        return y
    }

    func testFusedRegionMatchesDoubleReference() throws {
        for stride in [1, 2] {
            let session = try Session(model: Self.model(stride: stride), options: SessionOptions(intraOpThreads: 1))
            for (call, n) in [1, 3, 1].enumerated() {
                let x = Self.values(n * Self.c * Self.h * Self.w, call + 7).map { $0 * 4 }
                let y = try session.run(["x": try Tensor(shape: [n, Self.c, Self.h, Self.w], values: x)])["y"]!
                XCTAssertEqual(y.shape, [n, Self.m, (Self.h - 1) / stride + 1, (Self.w - 1) / stride + 1], "stride \(stride), call \(call)")
                let want = Self.reference(x, n: n, stride: stride)
                let scale = max(1, want.map(abs).max() ?? 0)
                let diff = zip(y.floats, want).map { abs(Double($0) - $1) }.max() ?? .infinity
                XCTAssertLessThanOrEqual(diff, 1e-5 * scale, "stride \(stride), call \(call), batch \(n)")
            }
        }
    }

    /// oneDNN has its fast (jit) kernel for the fusion at this shape, so the test above ran it.
    func testFusedPrimitiveIsNotTheReferenceKernel() throws {
        #if canImport(CDNNL)
        guard DNNL.isAvailable, PointwiseDepthwiseFusion.enabled else { throw XCTSkip("no oneDNN, or the fusion is off") }
        for stride in [1, 2] {
            let p = DNNL.ConvSpec(input: [1, Self.c, Self.h, Self.w], output: [1, Self.e, Self.h, Self.w], weights: [Self.e, Self.c, 1, 1], group: 1,
                                  strides: [1, 1], dilations: [1, 1], padsBegin: [0, 0], padsEnd: [0, 0], hasBias: true, sum: false,
                                  eltwise: [.relu(slope: 0)], blocked: true, threads: 1)
            let conv = try DNNL.PointwiseDepthwise(DNNL.PointwiseDepthwiseSpec(pointwise: p, stride: stride, depthwiseEltwise: [.relu(slope: 0)],
                                                                               tag: dnnl_nChw16c.rawValue))
            XCTAssertFalse(conv.conv.implementation.hasPrefix("ref"), conv.conv.implementation)
            XCTAssertEqual(conv.output, [1, Self.e, (Self.h - 1) / stride + 1, (Self.w - 1) / stride + 1])
        }
        #endif
    }
}
