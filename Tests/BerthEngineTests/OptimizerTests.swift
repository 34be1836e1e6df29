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
