import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// Malformed ai.onnx.ml attributes must fail at load with a message naming the problem — never
/// hang (a tree whose links loop) or read out of bounds (a leaf id or feature beyond the arrays).
final class MLBadInputTests: XCTestCase {
    private func ints(_ name: String, _ v: [Int64]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = v; return a
    }
    private func floats(_ name: String, _ v: [Float]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .floats; a.floats = v; return a
    }
    private func strings(_ name: String, _ v: [String]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .strings; a.strings = v.map { Data($0.utf8) }; return a
    }

    /// A one-tree regressor: node 0 splits feature `feature` into nodes `t` and `f` (leaves 1, 2).
    private func regressor(true t: Int64 = 1, false f: Int64 = 2, feature: Int64 = 0, modes: [String]? = nil,
                           weightNode: Int64 = 1) -> Onnx_ModelProto {
        var n = TestModels.node("TreeEnsembleRegressor", ["X"], ["Y"], domain: "ai.onnx.ml")
        n.attribute = [
            ints("nodes_treeids", [0, 0, 0]), ints("nodes_nodeids", [0, 1, 2]), ints("nodes_featureids", [feature, 0, 0]),
            strings("nodes_modes", modes ?? ["BRANCH_LEQ", "LEAF", "LEAF"]), floats("nodes_values", [0.5, 0, 0]),
            ints("nodes_truenodeids", [t, 0, 0]), ints("nodes_falsenodeids", [f, 0, 0]),
            ints("target_ids", [0, 0]), ints("target_nodeids", [weightNode, 2]), ints("target_treeids", [0, 0]),
            floats("target_weights", [1, 2]),
        ]
        return TestModels.model(nodes: [n], extraOpsets: ["ai.onnx.ml": 1])
    }

    private func loadError(_ m: Onnx_ModelProto) -> String? {
        do {
            _ = try Session(data: try m.serializedData())
            return nil
        } catch {
            return "\(error)"
        }
    }

    func testValidTreeRuns() throws {
        let s = try Session(data: try regressor().serializedData())
        let x = try Tensor(shape: [2, 4], values: [Float]([0, 0, 0, 0, 1, 1, 1, 1]))
        let y = try XCTUnwrap(try s.run(["X": x])["Y"])
        XCTAssertEqual(try y.values(Float.self), [1, 2], "x0 <= 0.5 goes to leaf 1 (weight 1), else leaf 2 (weight 2)")
    }

    func testCycleIsRejectedNotLooped() {
        // Node 0's false branch points back to itself through node 1 turned into a branch.
        let m = regressor(false: 1, modes: ["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"])
        XCTAssertNotNil(loadError(m))
        var looping = regressor(modes: ["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"])
        // Node 1 branches back to node 0.
        looping.graph.node[0].attribute[5] = ints("nodes_truenodeids", [1, 0, 0])
        looping.graph.node[0].attribute[6] = ints("nodes_falsenodeids", [2, 0, 0])
        let e = loadError(looping)
        XCTAssertNotNil(e)
        XCTAssertTrue(e?.contains("cycle") ?? false, e ?? "")
    }

    func testDanglingChildIsNamed() {
        let e = loadError(regressor(true: 7))
        XCTAssertTrue(e?.contains("missing node 7") ?? false, e ?? "no error")
    }

    func testWeightOnMissingNodeIsNamed() {
        let e = loadError(regressor(weightNode: 9))
        XCTAssertTrue(e?.contains("missing node 9") ?? false, e ?? "no error")
    }

    func testFeatureBeyondInputWidthFailsAtRun() throws {
        let s = try Session(data: try regressor(feature: 10).serializedData())
        let x = try Tensor(shape: [1, 4], values: [Float](repeating: 0, count: 4))
        XCTAssertThrowsError(try s.run(["X": x])) { error in
            XCTAssertTrue("\(error)".contains("feature 10"), "\(error)")
        }
    }

    func testLinearClassifierCoefficientMismatch() {
        var n = TestModels.node("LinearClassifier", ["X"], ["L", "Y"], domain: "ai.onnx.ml")
        n.attribute = [floats("coefficients", [1, 2, 3]), floats("intercepts", [0, 0]), ints("classlabels_ints", [0, 1])]
        let e = loadError(TestModels.model(nodes: [n], extraOpsets: ["ai.onnx.ml": 1]))
        XCTAssertTrue(e?.contains("3 coefficients") ?? false, e ?? "no error")
    }
}
