import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// One session running a grouped, strided, padded Conv (+ residual Add + Relu, fused by the
/// optimizer) at many batch sizes in turn and from concurrent callers, so the per-shape primitive
/// cache (new shape, an old one again, more shapes than it keeps) and shared primitives are
/// exercised, checked against a direct double-precision convolution written here. Tolerance 1e-5
/// relative to the output's largest magnitude (fp32 sums of 3*3*4 products in oneDNN's or BLAS's
/// order against exact double sums).
final class ConvBackendTests: XCTestCase {
    static let (c, m, group, h, w, k, stride, pad) = (8, 8, 2, 9, 7, 3, 2, 1)
    static let (oh, ow) = ((h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1)
    static let weights = (0..<(m * c / group * k * k)).map { Float(($0 * 37) % 23) / 23 - 0.5 }
    static let bias = (0..<m).map { Float($0) * 0.1 - 0.3 }

    static func reference(_ x: [Float], n: Int) -> [Float] {
        let cg = c / group, mg = m / group
        var y = [Float](repeating: 0, count: n * m * oh * ow)
        for b in 0..<n { for o in 0..<m { for i in 0..<oh { for j in 0..<ow {
            var s = Double(bias[o])
            let g = o / mg
            for ci in 0..<cg { for u in 0..<k { for v in 0..<k {
                let yy = i * stride - pad + u, xx = j * stride - pad + v
                guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                s += Double(x[((b * c + g * cg + ci) * h + yy) * w + xx]) * Double(weights[((o * cg + ci) * k + u) * k + v])
            } } }
            y[((b * m + o) * oh + i) * ow + j] = Float(s)
        } } } }
        return y
    }

    /// Runs batch `n` and returns (max |diff| to the reference, allowed diff).
    static func run(_ session: Session, n: Int) throws -> (Float, Float) {
        let x = (0..<(n * c * h * w)).map { Float(($0 * 13 + n) % 29) / 29 - 0.5 }
        let r = (0..<(n * m * oh * ow)).map { Float(($0 * 7) % 11) / 11 - 0.5 }
        let y = try session.run(["X": try Tensor(shape: [n, c, h, w], values: x), "R": try Tensor(shape: [n, m, oh, ow], values: r)])["Y"]!
        guard y.shape == [n, m, oh, ow] else { return (.infinity, 0) }
        let want = zip(reference(x, n: n), r).map { max($0 + $1, 0) }
        let scale = max(1, want.map(abs).max() ?? 0)
        return (zip(y.floats, want).map { abs($0 - $1) }.max() ?? 0, 1e-5 * scale)
    }

    static func makeSession() throws -> Session {
        var wt = Onnx_TensorProto(); wt.name = "W"; wt.dataType = 1
        wt.dims = [Int64(m), Int64(c / group), Int64(k), Int64(k)]; wt.floatData = weights
        var bt = Onnx_TensorProto(); bt.name = "B"; bt.dataType = 1; bt.dims = [Int64(m)]; bt.floatData = bias
        func ints(_ name: String, _ v: [Int64]) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = v; return a
        }
        var groupAttr = Onnx_AttributeProto(); groupAttr.name = "group"; groupAttr.type = .int; groupAttr.i = Int64(group)
        var conv = TestModels.node("Conv", ["X", "W", "B"], ["c"])
        conv.attribute = [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1]), ints("strides", [2, 2]), groupAttr]
        let model = TestModels.model(nodes: [conv, TestModels.node("Add", ["c", "R"], ["s"]), TestModels.node("Relu", ["s"], ["Y"])],
                                     inputs: [TestModels.Tensor("X", .float32, [.symbolic("N"), .fixed(c), .fixed(h), .fixed(w)]),
                                              TestModels.Tensor("R", .float32, [.symbolic("N"), .fixed(m), .fixed(oh), .fixed(ow)])],
                                     outputs: [TestModels.Tensor("Y", .float32, [.symbolic("N"), .fixed(m), .fixed(oh), .fixed(ow)])],
                                     initializers: [wt, bt])
        return try Session(data: try model.serializedData(), options: SessionOptions(intraOpThreads: 2))
    }

    func testGroupedConvMatchesDirectLoopAcrossBatchSizes() throws {
        let session = try Self.makeSession()
        XCTAssertEqual(session.model.graph.nodes.count, 1, "Conv + Add + Relu should be one fused node")
        for n in [1, 3, 1, 2, 5, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 2] {
            let (diff, allowed) = try Self.run(session, n: n)
            XCTAssertLessThanOrEqual(diff, allowed, "batch \(n)")
        }
    }

    /// A server runs one session from several requests at once: the shared primitives (each call
    /// brings its own scratchpad and stream) must give every caller its own right answer.
    func testConcurrentCallersShareOneSession() throws {
        let session = try Self.makeSession()
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var bad: [String] = []
            func add(_ s: String) { lock.lock(); bad.append(s); lock.unlock() }
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for round in 0..<4 {
                let n = 1 + (i + round) % 3
                do {
                    let (diff, allowed) = try Self.run(session, n: n)
                    if !(diff <= allowed) { results.add("caller \(i) batch \(n): diff \(diff) > \(allowed)") }
                } catch {
                    results.add("caller \(i): \(error)")
                }
            }
        }
        XCTAssertEqual(results.bad, [])
    }
}
