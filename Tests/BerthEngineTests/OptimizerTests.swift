import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// Each optimizer pass must fire on its pattern and leave the outputs unchanged.
final class OptimizerTests: XCTestCase {
    static func scalar(_ name: String, _ v: Float) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = Int32(DType.float32.rawValue)
        t.floatData = [v]
        return t
    }

    /// Runs `m` with and without optimization on the same input; returns (optimized node count, max abs diff).
    func compare(_ m: Onnx_ModelProto, input: Tensor) throws -> (Int, Float) {
        let data = try m.serializedData()
        let fast = try Session(data: data, options: SessionOptions(intraOpThreads: 1, optimize: true))
        let plain = try Session(data: data, options: SessionOptions(intraOpThreads: 1, optimize: false))
        let a = try fast.run(["X": input])["Y"]!.floats, b = try plain.run(["X": input])["Y"]!.floats
        XCTAssertEqual(a.count, b.count)
        return (fast.model.graph.nodes.count, zip(a, b).map { abs($0 - $1) }.max() ?? 0)
    }

    func testGeluSubgraphIsFusedAndExact() throws {
        var m = TestModels.model(nodes: [
            TestModels.node("Div", ["X", "sqrt2"], ["d"]), TestModels.node("Erf", ["d"], ["e"]),
            TestModels.node("Add", ["e", "one"], ["a"]), TestModels.node("Mul", ["X", "a"], ["m"]),
            TestModels.node("Mul", ["m", "half"], ["Y"]),
        ])
        m.graph.initializer = [Self.scalar("sqrt2", Float(2).squareRoot()), Self.scalar("one", 1), Self.scalar("half", 0.5)]
        let x = try Tensor(shape: [3, 4], values: (0..<12).map { Float($0) / 2 - 3 })
        let (nodes, diff) = try compare(m, input: x)
        XCTAssertEqual(nodes, 1, "the five GELU nodes should become one")
        XCTAssertLessThanOrEqual(diff, 1e-6)
    }

    func testMatMulAddIsFusedAndExact() throws {
        var w = Onnx_TensorProto()
        w.name = "W"
        w.dataType = 1
        w.dims = [4, 4]
        w.floatData = (0..<16).map { Float($0) * 0.1 - 0.7 }
        var b = Onnx_TensorProto()
        b.name = "b"
        b.dataType = 1
        b.dims = [4]
        b.floatData = [1, -2, 3, -4]
        var m = TestModels.model(nodes: [TestModels.node("MatMul", ["X", "W"], ["mm"]), TestModels.node("Add", ["mm", "b"], ["Y"])])
        m.graph.initializer = [w, b]
        let (nodes, diff) = try compare(m, input: try Tensor(shape: [2, 4], values: (0..<8).map { Float($0) }))
        XCTAssertEqual(nodes, 1)
        XCTAssertLessThanOrEqual(diff, 1e-5)
    }

    /// ResNet's Conv → Add(residual) → Relu and MobileNet's Conv → Clip become one FusedConv each,
    /// whose post-ops (oneDNN's sum + eltwise, or the portable passes) match the separate nodes.
    func testConvAddActivationIsFusedAndExact() throws {
        func weights(_ name: String, _ dims: [Int64], _ seed: Int) -> Onnx_TensorProto {
            var w = Onnx_TensorProto()
            w.name = name
            w.dataType = 1
            w.dims = dims
            w.floatData = (0..<Int(dims.reduce(1, *))).map { Float(($0 * 7 + seed) % 13) * 0.05 - 0.3 }
            return w
        }
        func ints(_ name: String, _ v: [Int64]) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto()
            a.name = name
            a.type = .ints
            a.ints = v
            return a
        }
        var conv1 = TestModels.node("Conv", ["X", "W1", "B1"], ["c1"])
        conv1.attribute = [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1])]
        var conv2 = TestModels.node("Conv", ["r1", "W2"], ["c2"])
        conv2.attribute = [ints("kernel_shape", [1, 1])]
        let dims: [Dim] = [.symbolic("N"), .fixed(8), .fixed(6), .fixed(5)]
        var m = TestModels.model(nodes: [
            conv1, TestModels.node("Add", ["c1", "X"], ["s1"]), TestModels.node("Relu", ["s1"], ["r1"]),
            conv2, TestModels.node("Clip", ["c2", "lo", "hi"], ["Y"]),
        ], inputs: [TestModels.Tensor("X", .float32, dims)], outputs: [TestModels.Tensor("Y", .float32, dims)])
        m.graph.initializer = [weights("W1", [8, 8, 3, 3], 1), weights("B1", [8], 2), weights("W2", [8, 8, 1, 1], 3),
                               Self.scalar("lo", 0), Self.scalar("hi", 6)]
        let x = try Tensor(shape: [2, 8, 6, 5], values: (0..<480).map { Float($0 % 17) * 0.1 - 0.8 })
        let (nodes, diff) = try compare(m, input: x)
        XCTAssertEqual(nodes, 2, "Conv+Add+Relu and Conv+Clip should be one node each")
        XCTAssertLessThanOrEqual(diff, 1e-5)
    }

    func testConstantSubgraphsAreFoldedAndIdentitiesRemoved() throws {
        var m = TestModels.model(nodes: [
            TestModels.node("Add", ["c1", "c2"], ["c3"]), TestModels.node("Identity", ["X"], ["x2"]),
            TestModels.node("Add", ["x2", "c3"], ["Y"]),
        ])
        m.graph.initializer = [Self.scalar("c1", 1.5), Self.scalar("c2", 2)]
        let (nodes, diff) = try compare(m, input: try Tensor(shape: [1, 4], values: [Float](repeating: 1, count: 4)))
        XCTAssertEqual(nodes, 1, "Add of two constants is folded, Identity removed")
        XCTAssertEqual(diff, 0)
    }
}
