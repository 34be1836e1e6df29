import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// The per-tensor element budget (``RunLimits/maxTensorElements``): shapes that a feed decides
/// (ConstantOfShape, Expand, Tile, Range) are refused before allocation once they exceed the
/// session's bound, and allowed up to it exactly.
final class TensorBudgetTests: XCTestCase {
    private typealias T = TestModels.Tensor

    private func session(_ op: String, inputs: [T], output: T, limit: Int) throws -> Session {
        let names = inputs.map(\.name)
        let m = TestModels.model(nodes: [TestModels.node(op, names, [output.name])], inputs: inputs, outputs: [output])
        return try Session(data: m.serializedData(),
                           options: SessionOptions(intraOpThreads: 1, limits: RunLimits(maxTensorElements: limit)))
    }

    private func expectRefused(_ body: @autoclosure () throws -> Any, _ needle: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertTrue("\(error)".contains(needle), "\(error)", line: line)
        }
    }

    func testShapeFromFeedIsBoundedBeforeAllocating() throws {
        let shape = T("shape", .int64, [.fixed(2)])
        let constant = try session("ConstantOfShape", inputs: [shape], output: T("y", .float32, [.unknown, .unknown]), limit: 10_000)
        XCTAssertEqual(try constant.run(["shape": Tensor(shape: [2], values: [Int64(100), 100])])["y"]?.shape, [100, 100])
        expectRefused(try constant.run(["shape": Tensor(shape: [2], values: [Int64(101), 100])]), "more than the limit 10000")
        // A terabyte-sized request is refused by the same check, with no allocation attempted.
        expectRefused(try constant.run(["shape": Tensor(shape: [2], values: [Int64(1 << 20), 1 << 20])]), "more than the limit")

        let x = T("x", .float32, [.fixed(1)])
        let expand = try session("Expand", inputs: [x, shape], output: T("y", .float32, [.unknown, .unknown]), limit: 10_000)
        let one = try Tensor(shape: [1], values: [Float(2)])
        XCTAssertEqual(try expand.run(["x": one, "shape": Tensor(shape: [2], values: [Int64(50), 200])])["y"]?.floats.count, 10_000)
        expectRefused(try expand.run(["x": one, "shape": Tensor(shape: [2], values: [Int64(50), 201])]), "more than the limit 10000")

        let repeats = T("repeats", .int64, [.fixed(1)])
        let tile = try session("Tile", inputs: [x, repeats], output: T("y", .float32, [.unknown]), limit: 10_000)
        expectRefused(try tile.run(["x": one, "repeats": Tensor(shape: [1], values: [Int64(10_001)])]), "more than the limit 10000")

        let s = T("s", .int64, []), l = T("l", .int64, []), d = T("d", .int64, [])
        let range = try session("Range", inputs: [s, l, d], output: T("y", .int64, [.unknown]), limit: 10_000)
        XCTAssertEqual(try range.run(["s": .scalar(Int64(0)), "l": .scalar(Int64(10_000)), "d": .scalar(Int64(1))])["y"]?.count, 10_000)
        expectRefused(try range.run(["s": .scalar(Int64(0)), "l": .scalar(Int64(1) << 62), "d": .scalar(Int64(1))]), "too many elements")
    }

    /// The bound belongs to the session that runs: another session's smaller bound does not leak into it.
    func testBoundIsPerSession() throws {
        let shape = T("shape", .int64, [.fixed(1)])
        let small = try session("ConstantOfShape", inputs: [shape], output: T("y", .float32, [.unknown]), limit: 10)
        let large = try session("ConstantOfShape", inputs: [shape], output: T("y", .float32, [.unknown]), limit: 1000)
        let feed = ["shape": try Tensor(shape: [1], values: [Int64(500)])]
        expectRefused(try small.run(feed), "more than the limit 10")
        XCTAssertEqual(try large.run(feed)["y"]?.count, 500)
    }
}
