@testable import BerthEngine
import BerthONNX
import BerthTensor
import XCTest

/// Where the blocked-layout pass draws region borders: a value that leaves a region through a
/// plain op and comes back must split it (else the rewritten graph has a cycle), values read
/// outside or returned by the graph leave the region as outputs, and a region needs a
/// convolution and a second node. Numerics against ONNX Runtime: tests/python/test_blocked_layout.py.
final class BlockedLayoutPassTests: XCTestCase {
    private func conv(_ x: String, _ w: String, _ y: String) -> Node {
        Node(name: y, opType: "Conv", inputs: [x, w], outputs: [y], attributes: ["pads": .ints([1, 1, 1, 1])])
    }

    private func graph(_ nodes: [Node], outputs: [String]) throws -> Graph {
        let w = try Tensor(shape: [4, 4, 3, 3], values: (0..<144).map { Float($0 % 7) / 7 - 0.5 })
        return Graph(name: "g", nodes: nodes, initializers: ["w1": w, "w2": w], inputs: [ValueInfo(name: "x", dtype: .float32, shape: nil)],
                     outputs: outputs.map { ValueInfo(name: $0, dtype: .float32, shape: nil) })
    }

    private func regions(_ g: Graph) -> [Node] { g.nodes.filter { $0.opType == BlockedLayoutPass.opType } }
    /// The op types inside each region.
    private func bodies(_ g: Graph) -> [[String]] {
        regions(g).map { r in
            guard case let .graph(body)? = r.attributes["body"] else { return [] }
            return body.nodes.map(\.opType)
        }
    }

    func testPathThroughAPlainOpSplitsTheRegion() throws {
        // r1 → Mul → m, and Add(r1, m): the Add cannot join r1's region (m descends from it).
        let g = try graph([
            conv("x", "w1", "c1"), Node(name: "r1", opType: "Relu", inputs: ["c1"], outputs: ["r1"]),
            Node(name: "m", opType: "Mul", inputs: ["r1", "r1"], outputs: ["m"]),
            Node(name: "s", opType: "Add", inputs: ["r1", "m"], outputs: ["s"]), conv("s", "w2", "y"),
        ], outputs: ["y"])
        let out = BlockedLayoutPass().apply(g)
        let r = regions(out)
        XCTAssertEqual(r.count, 2)
        XCTAssertEqual(out.nodes.count, 3, "two regions and the Mul")
        XCTAssertEqual(r.first { $0.inputs.contains("x") }?.outputs, ["r1"])
        XCTAssertEqual(Set(r.first { $0.outputs == ["y"] }?.inputs ?? []), ["r1", "m", "w2"])
        // The plan orders it: no cycle.
        XCTAssertNoThrow(try ExecutionPlan(graph: out, opsetFor: { _ in 13 }, registry: .standard))
    }

    func testValuesReadOutsideOrReturnedLeaveTheRegion() throws {
        let g = try graph([
            conv("x", "w1", "c1"), Node(name: "r1", opType: "Relu", inputs: ["c1"], outputs: ["r1"]),
            conv("r1", "w2", "c2"), Node(name: "p", opType: "MaxPool", inputs: ["c2"], outputs: ["y"], attributes: ["kernel_shape": .ints([2, 2])]),
            Node(name: "n", opType: "Neg", inputs: ["c2"], outputs: ["z"]),
        ], outputs: ["y", "z", "r1"])
        let out = BlockedLayoutPass().apply(g)
        let r = regions(out)
        XCTAssertEqual(r.count, 1)
        XCTAssertEqual(Set(r[0].outputs), ["r1", "c2", "y"])
        XCTAssertEqual(r[0].inputs, ["x", "w1", "w2"])
    }

    func testNoRegionWithoutAConvolution() throws {
        // A lone float convolution is a region of its own (it splits over the pool there).
        let lone = try graph([conv("x", "w1", "y")], outputs: ["y"])
        let r = regions(BlockedLayoutPass().apply(lone))
        XCTAssertEqual(r.count, 1)
        XCTAssertEqual(r.first?.outputs, ["y"])
        let noConv = try graph([Node(name: "r", opType: "Relu", inputs: ["x"], outputs: ["r"]),
                                Node(name: "p", opType: "MaxPool", inputs: ["r"], outputs: ["y"], attributes: ["kernel_shape": .ints([2, 2])])],
                               outputs: ["y"])
        XCTAssertTrue(regions(BlockedLayoutPass().apply(noConv)).isEmpty)
        // Weights that are not initializers keep the conv out (oneDNN packs them once).
        let fed = Graph(name: "g", nodes: [conv("x", "w", "c"), Node(name: "r", opType: "Relu", inputs: ["c"], outputs: ["y"])], initializers: [:],
                        inputs: [ValueInfo(name: "x", dtype: .float32, shape: nil), ValueInfo(name: "w", dtype: .float32, shape: nil)],
                        outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil)])
        XCTAssertTrue(regions(BlockedLayoutPass().apply(fed)).isEmpty)
    }

    func testInferenceBatchNormalizationJoinsOnlyWithConstantParameters() throws {
        var g = try graph([
            conv("x", "w1", "c1"),
            Node(name: "bn", opType: "BatchNormalization", inputs: ["c1", "s", "b", "m", "v"], outputs: ["n1"], attributes: ["epsilon": .float(1e-3)]),
            Node(name: "r", opType: "Relu", inputs: ["n1"], outputs: ["y"]),
        ], outputs: ["y"])
        for name in ["s", "b", "m", "v"] { g.initializers[name] = try Tensor(shape: [4], values: [Float](repeating: 1, count: 4)) }
        let joined = regions(BlockedLayoutPass().apply(g))
        XCTAssertEqual(joined.count, 1)
        guard case let .graph(body)? = joined.first?.attributes["body"] else { return XCTFail("region without a body") }
        XCTAssertEqual(body.nodes.map(\.opType), ["Conv", "BatchNormalization", "Relu"])
        // Statistics fed at run time, or training mode: the node stays outside (and splits the chain;
        // the convolution is then a region of its own).
        var fed = g
        fed.initializers["m"] = nil
        XCTAssertEqual(bodies(BlockedLayoutPass().apply(fed)), [["Conv"]])
        var training = g
        training.nodes[1].attributes["training_mode"] = .int(1)
        XCTAssertEqual(bodies(BlockedLayoutPass().apply(training)), [["Conv"]])
    }
}
