import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// If / Loop subgraphs reading outer-scope values (through the optimizer), and the bad inputs
/// of control flow and RNNs: each must be an error naming the problem, never a crash or a hang.
final class ControlFlowTests: XCTestCase {
    private typealias T = TestModels.Tensor

    private func graph(_ name: String, _ nodes: [Onnx_NodeProto], inputs: [T] = [], outputs: [T],
                       initializers: [Onnx_TensorProto] = []) -> Onnx_GraphProto {
        var g = Onnx_GraphProto()
        g.name = name
        g.node = nodes
        g.input = inputs.map(TestModels.valueInfo)
        g.output = outputs.map(TestModels.valueInfo)
        g.initializer = initializers
        return g
    }

    private func attribute(_ name: String, _ g: Onnx_GraphProto) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .graph
        a.g = g
        return a
    }

    private func int64(_ name: String, _ v: Int64) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = Int32(DType.int64.rawValue)
        t.int64Data = [v]
        return t
    }

    private func expectError(_ body: @autoclosure () throws -> Any, _ needles: String..., file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            for n in needles { XCTAssertTrue("\(e)".contains(n), "'\(e)' lacks '\(n)'", file: file, line: line) }
        }
    }

    /// Y = If(cond, X + w, X - (-w)): the branches read X's Identity copy and an initializer the
    /// main graph uses only through a folded node, so identity elimination and constant folding
    /// must keep both names.
    private func ifModel(thenReads: String = "a") -> Onnx_ModelProto {
        let thenG = graph("then", [TestModels.node("Add", [thenReads, "w"], ["t"])], outputs: [T("t", .float32, [])])
        let elseG = graph("else", [TestModels.node("Sub", ["a", "negw"], ["e"])], outputs: [T("e", .float32, [])])
        var ifNode = TestModels.node("If", ["cond"], ["Y"])
        ifNode.attribute = [attribute("then_branch", thenG), attribute("else_branch", elseG)]
        return TestModels.model(nodes: [TestModels.node("Identity", ["X"], ["a"]), TestModels.node("Neg", ["w"], ["negw"]), ifNode],
                                inputs: [TestModels.x, T("cond", .bool, [])], outputs: [TestModels.y],
                                initializers: [TestModels.initializer("w", dims: [4], floats: [1, 2, 3, 4])])
    }

    func testIfBranchesReadOuterValuesThroughTheOptimizer() throws {
        let x = try Tensor(shape: [1, 4], values: [Float](repeating: 10, count: 4))
        for optimize in [true, false] {
            let s = try Session(data: ifModel().serializedData(), options: SessionOptions(intraOpThreads: 1, optimize: optimize))
            XCTAssertEqual(try s.run(["X": x, "cond": .scalar(true)])["Y"]?.floats, [11, 12, 13, 14])
            XCTAssertEqual(try s.run(["X": x, "cond": .scalar(false)])["Y"]?.floats, [11, 12, 13, 14])
        }
    }

    func testSubgraphReadingAMissingOuterValueIsAGraphError() throws {
        expectError(try Session(data: ifModel(thenReads: "nowhere").serializedData()), "'nowhere' in a subgraph", "no node, input or initializer")
    }

    /// y = Loop(M, cond "", y0) adding 1 per iteration; `scan` also stacks y when asked.
    private func loopModel(scan: Bool) -> Onnx_ModelProto {
        var bodyNodes = [TestModels.node("Identity", ["cond_in"], ["cond_out"]), TestModels.node("Add", ["y_in", "one"], ["y_out"])]
        var bodyOutputs = [T("cond_out", .bool, []), T("y_out", .float32, [.fixed(1)])]
        if scan {
            bodyNodes.append(TestModels.node("Identity", ["y_out"], ["s"]))
            bodyOutputs.append(T("s", .float32, [.fixed(1)]))
        }
        let body = graph("body", bodyNodes, inputs: [T("i", .int64, []), T("cond_in", .bool, []), T("y_in", .float32, [.fixed(1)])],
                         outputs: bodyOutputs)
        var loop = TestModels.node("Loop", ["M", "", "y0"], scan ? ["y", "ys"] : ["y"])
        loop.attribute = [attribute("body", body)]
        return TestModels.model(nodes: [loop], inputs: [T("M", .int64, []), T("y0", .float32, [.fixed(1)])],
                                outputs: [T("y", .float32, [.fixed(1)])] + (scan ? [T("ys", .float32, [.unknown, .fixed(1)])] : []),
                                initializers: [TestModels.initializer("one", dims: [], floats: [1])])
    }

    func testLoopRunsAndBadTripCountsAreErrors() throws {
        let y0 = try Tensor(shape: [1], values: [Float(0.5)])
        let s = try Session(data: loopModel(scan: true).serializedData(), options: SessionOptions(intraOpThreads: 1))
        let out = try s.run(["M": .scalar(Int64(3)), "y0": y0])
        XCTAssertEqual(out["y"]?.floats, [3.5])
        XCTAssertEqual(out["ys"]?.shape, [3, 1])
        XCTAssertEqual(out["ys"]?.floats, [1.5, 2.5, 3.5])
        let none = try s.run(["M": .scalar(Int64(0)), "y0": y0])
        XCTAssertEqual(none["y"]?.floats, [0.5])
        XCTAssertEqual(none["ys"]?.shape, [0, 1])

        expectError(try s.run(["M": .scalar(Int64(-1)), "y0": y0]), "Loop", "trip count M must be >= 0, got -1")

        // 10^12 iterations and no exit: stopped by the iteration bound, and by the output bound.
        let limited = SessionOptions(intraOpThreads: 1, limits: RunLimits(maxLoopIterations: 1000))
        let endless = try Session(data: loopModel(scan: false).serializedData(), options: limited)
        expectError(try endless.run(["M": .scalar(Int64(1_000_000_000_000)), "y0": y0]), "Loop ran 1000 iterations without ending")
        let growing = try Session(data: loopModel(scan: true).serializedData(),
                                  options: SessionOptions(intraOpThreads: 1, limits: RunLimits(maxScanOutputBytes: 400)))
        expectError(try growing.run(["M": .scalar(Int64(1_000_000_000_000)), "y0": y0]), "scan outputs exceed 400 bytes")
    }

    /// A body that doubles its loop-carried value is stopped by the byte bound, not by memory.
    func testLoopStateThatKeepsGrowingIsAnError() throws {
        var concat = TestModels.node("Concat", ["y_in", "y_in"], ["y_out"])
        concat.attribute = [TestModels.intAttribute("axis", 0)]
        let body = graph("body", [TestModels.node("Identity", ["cond_in"], ["cond_out"]), concat],
                         inputs: [T("i", .int64, []), T("cond_in", .bool, []), T("y_in", .float32, [.unknown])],
                         outputs: [T("cond_out", .bool, []), T("y_out", .float32, [.unknown])])
        var loop = TestModels.node("Loop", ["M", "", "y0"], ["y"])
        loop.attribute = [attribute("body", body)]
        let m = TestModels.model(nodes: [loop], inputs: [T("y0", .float32, [.fixed(1)])], outputs: [T("y", .float32, [.unknown])],
                                 initializers: [int64("M", 1_000_000_000_000)])
        let s = try Session(data: m.serializedData(), options: SessionOptions(intraOpThreads: 1, limits: RunLimits(maxScanOutputBytes: 4096)))
        expectError(try s.run(["y0": try Tensor(shape: [1], values: [Float(1)])]), "loop-carried values exceed 4096 bytes")
    }

    func testSubgraphOutputCountMismatchIsAnError() throws {
        var m = loopModel(scan: false)
        m.graph.node[0].output = ["y", "extra"]
        m.graph.output.append(TestModels.valueInfo("extra", .float32, [.unknown]))
        expectError(try Session(data: m.serializedData()), "Loop has 2 outputs")
    }

    func testLSTMWithInconsistentWeightShapesIsAnError() throws {
        var lstm = TestModels.node("LSTM", ["X3", "W", "R"], ["Y3"])
        lstm.attribute = [TestModels.intAttribute("hidden_size", 3)]
        let m = TestModels.model(nodes: [lstm], inputs: [T("X3", .float32, [.fixed(1), .fixed(1), .fixed(2)])],
                                 outputs: [T("Y3", .float32, [.unknown, .unknown, .unknown, .unknown])],
                                 initializers: [TestModels.initializer("W", dims: [1, 12, 3], floats: [Float](repeating: 0.1, count: 36)),
                                                TestModels.initializer("R", dims: [1, 12, 3], floats: [Float](repeating: 0.1, count: 36))])
        let s = try Session(data: m.serializedData(), options: SessionOptions(intraOpThreads: 1))
        expectError(try s.run(["X3": try Tensor(shape: [1, 1, 2], values: [Float(1), 2])]), "LSTM", "W must be [1, 12, 2]", "got shape [1, 12, 3]")
    }
}
