@testable import BerthEngine
import BerthONNX
import BerthTensor
import XCTest

/// ORT's quantize_dynamic Conv pattern as onnxruntime 1.32 writes it (the bias reshaped to
/// [1, -1, 1, 1] by a Reshape of initializers, then a Relu): one QuantizedConv that absorbs the
/// bias Add and the Relu. Numerics against ORT on such files: tests/python/test_int8_regions.py.
final class QuantizedConvFusionTests: XCTestCase {
    private func graph(target: [Int64]) throws -> Graph {
        let m = 4
        let nodes = [
            Node(name: "r", opType: "Reshape", inputs: ["bias", "shape"], outputs: ["bias_r"]),
            Node(name: "d", opType: "DynamicQuantizeLinear", inputs: ["x"], outputs: ["xq", "xs", "xz"]),
            Node(name: "s", opType: "Mul", inputs: ["xs", "ws"], outputs: ["scales"]),
            Node(name: "c", opType: "ConvInteger", inputs: ["xq", "w", "xz", "wz"], outputs: ["acc"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "cast", opType: "Cast", inputs: ["acc"], outputs: ["accf"], attributes: ["to": .int(1)]),
            Node(name: "mul", opType: "Mul", inputs: ["accf", "scales"], outputs: ["scaled"]),
            Node(name: "add", opType: "Add", inputs: ["scaled", "bias_r"], outputs: ["z"]),
            Node(name: "relu", opType: "Relu", inputs: ["z"], outputs: ["y"]),
        ]
        let inits: [String: Tensor] = [
            "bias": try Tensor(shape: [m], values: [0.1, -0.2, 0.3, 0.4] as [Float]),
            "shape": Tensor(unchecked: [target.count], storage: .int64(target)),
            "ws": .scalar(Float(0.01)), "wz": .scalar(Int8(0)),
            "w": Tensor(unchecked: [m, 2, 3, 3], storage: .int8((0..<(m * 18)).map { Int8($0 % 11 - 5) })),
        ]
        return Graph(name: "g", nodes: nodes, initializers: inits, inputs: [ValueInfo(name: "x", dtype: .float32, shape: nil)],
                     outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil)])
    }

    private func fused(_ g: Graph) throws -> Graph {
        try QuantizedConvFusion().apply(g, context: OptimizerContext(registry: .standard, opsetFor: { _ in 13 }, pool: ThreadPool(threads: 1)))
    }

    func testReshapedBiasAndReluJoinTheFusedConv() throws {
        let g = try fused(try graph(target: [1, -1, 1, 1]))
        XCTAssertEqual(g.nodes.map(\.opType), ["QuantizedConv"])
        let q = try XCTUnwrap(g.nodes.first)
        XCTAssertEqual(try q.int("relu"), 1)
        XCTAssertEqual(q.outputs, ["y"])
        XCTAssertEqual(g.initializers[q.inputs[6]]?.floats, [0.1, -0.2, 0.3, 0.4])
    }

    func testBiasReshapedOffTheChannelAxisStaysAnAdd() throws {
        // [1, 1, -1, 1] broadcasts over rows, not channels: the Add (and so the Relu) stay.
        let g = try fused(try graph(target: [1, 1, -1, 1]))
        XCTAssertEqual(g.nodes.map(\.opType).filter { $0 != "Reshape" }, ["QuantizedConv", "Add", "Relu"])
    }
}
