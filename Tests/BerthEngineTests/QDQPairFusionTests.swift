@testable import BerthEngine
import BerthONNX
import BerthTensor
import XCTest

/// Which QuantizeLinear → DequantizeLinear pairs ``QDQPairFusion`` turns into one FakeQuantize:
/// only per-tensor pairs whose every reader is a DequantizeLinear with the same scale and zero
/// point, the 8-bit value not a graph output. Numerics (bit-equal to ONNX Runtime's two nodes)
/// and regions: tests/python/test_int8_regions.py.
final class QDQPairFusionTests: XCTestCase {
    private func fused(_ nodes: [Node], outputs: [String], scale2: Float = 0.1) throws -> Graph {
        let g = Graph(name: "g", nodes: nodes,
                      initializers: ["s": .scalar(Float(0.1)), "s2": .scalar(scale2), "z": .scalar(UInt8(3))],
                      inputs: [ValueInfo(name: "x", dtype: .float32, shape: nil)],
                      outputs: outputs.map { ValueInfo(name: $0, dtype: nil, shape: nil) })
        let ctx = OptimizerContext(registry: .standard, opsetFor: { _ in 13 }, pool: ThreadPool(threads: 1))
        return try QDQPairFusion().apply(g, context: ctx)
    }

    private let q = Node(name: "q", opType: "QuantizeLinear", inputs: ["x", "s", "z"], outputs: ["q"])
    private func dq(_ name: String, scale: String = "s") -> Node {
        Node(name: name, opType: "DequantizeLinear", inputs: ["q", scale, "z"], outputs: [name])
    }

    func testPairWithTwoReadersBecomesTwoFakeQuantizes() throws {
        let g = try fused([q, dq("a"), dq("b")], outputs: ["a", "b"])
        XCTAssertEqual(g.nodes.map(\.opType), ["FakeQuantize", "FakeQuantize"])
        XCTAssertEqual(g.nodes.map(\.inputs), [["x", "s", "z"], ["x", "s", "z"]])
        XCTAssertEqual(g.nodes.map(\.outputs), [["a"], ["b"]])
    }

    func testOtherScaleOtherReaderOrReturnedValueKeepThePair() throws {
        // An equal scale under another name still fuses; a different one does not.
        XCTAssertEqual(try fused([q, dq("a", scale: "s2")], outputs: ["a"]).nodes.map(\.opType), ["FakeQuantize"])
        XCTAssertEqual(try fused([q, dq("a", scale: "s2")], outputs: ["a"], scale2: 0.2).nodes.map(\.opType),
                       ["QuantizeLinear", "DequantizeLinear"])
        let cast = Node(name: "c", opType: "Cast", inputs: ["q"], outputs: ["c"], attributes: ["to": .int(1)])
        XCTAssertEqual(try fused([q, dq("a"), cast], outputs: ["a", "c"]).nodes.map(\.opType), ["QuantizeLinear", "DequantizeLinear", "Cast"])
        XCTAssertEqual(try fused([q, dq("a")], outputs: ["a", "q"]).nodes.map(\.opType), ["QuantizeLinear", "DequantizeLinear"])
    }
}
