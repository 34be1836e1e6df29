@testable import BerthEngine
import BerthONNX
import BerthTensor
import XCTest

/// Bad attributes and inputs of Resize, the scatters and the other ops added with them must give a
/// kernel error naming the problem: no crash, no out-of-range write, no huge allocation.
final class TensorOpBadInputTests: XCTestCase {
    let pool = ThreadPool(threads: 1)

    private func run(_ op: String, opset: Int = 17, _ attrs: [String: Attribute] = [:], _ inputs: [Tensor?]) throws -> [Tensor] {
        let node = Node(name: "n", opType: op, inputs: inputs.map { $0 == nil ? "" : "x" }, outputs: ["y"], attributes: attrs)
        guard let factory = KernelRegistry.standard.factory(domain: "", op: op, opset: opset) else {
            throw KernelError("\(op) is not registered at opset \(opset)")
        }
        return try factory(node, opset)(inputs, KernelContext(pool: pool))
    }

    private func expectError(_ op: String, opset: Int = 17, _ attrs: [String: Attribute] = [:], _ inputs: [Tensor?], _ needle: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try run(op, opset: opset, attrs, inputs), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(needle), "'\(e)' lacks '\(needle)'", file: file, line: line)
        }
    }

    private func floats(_ shape: [Int]) throws -> Tensor {
        try Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { Float($0) })
    }
    private func int64(_ shape: [Int], _ v: [Int64]) throws -> Tensor { try Tensor(shape: shape, values: v) }
    private func f32(_ v: [Float]) throws -> Tensor { try Tensor(shape: [v.count], values: v) }

    func testResizeNearestAndBilinear2x() throws {
        let x = try floats([1, 1, 2, 2])
        let near = try run("Resize", ["mode": .string("nearest")], [x, nil, try f32([1, 1, 2, 2])])[0]
        XCTAssertEqual(near.shape, [1, 1, 4, 4])
        XCTAssertEqual(near.floats, [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3])
        let lin = try run("Resize", ["mode": .string("linear")], [x, nil, try f32([1, 1, 2, 2])])[0]
        XCTAssertEqual(lin.floats[0..<4].map { $0 }, [0, 0.25, 0.75, 1])
        let up = try run("Upsample", opset: 9, ["mode": .string("nearest")], [x, try f32([1, 1, 2, 3])])[0]
        XCTAssertEqual(up.shape, [1, 1, 4, 6])
    }

    func testResizeRejectsBadScalesSizesAndAttributes() throws {
        let x = try floats([1, 1, 2, 2])
        expectError("Resize", [:], [x, nil, try f32([1, 1, 0, 2])], "must be positive")
        expectError("Resize", [:], [x, nil, try f32([1, 2])], "one entry per resized axis")
        expectError("Resize", [:], [x, nil, try f32([1, 1, 2, 2]), try int64([4], [1, 1, 4, 4])], "not both")
        expectError("Resize", [:], [x, nil, nil, try int64([4], [1, 1, -4, 4])], "negative")
        expectError("Resize", [:], [x, nil, nil, try int64([4], [1, 1, 1 << 20, 1 << 20])], "limit")
        expectError("Resize", [:], [x, nil, try f32([1, 1, 1e30, 1e30])], "too large")
        expectError("Resize", ["mode": .string("bicubic")], [x, nil, try f32([1, 1, 2, 2])], "mode 'bicubic'")
        expectError("Resize", ["coordinate_transformation_mode": .string("half_pixel_symmetric")], [x, nil, try f32([1, 1, 2, 2])],
                    "not supported at opset 17")
        expectError("Resize", ["coordinate_transformation_mode": .string("tf_crop_and_resize")], [x, nil, try f32([1, 1, 2, 2])], "roi")
        expectError("Resize", opset: 18, ["axes": .ints([2, 2])], [x, nil, try f32([2, 2])], "repeat")
        expectError("Resize", [:], [x, nil, nil], "needs scales or sizes")
        expectError("Resize", ["mode": .string("linear")], [try Tensor(shape: [2], values: ["a", "b"]), nil, try f32([2])], "numeric")
        XCTAssertEqual(try run("Resize", [:], [try floats([1, 0, 2]), nil, try f32([1, 1, 2])])[0].shape, [1, 0, 4])
    }

    func testScattersRejectOutOfRangeIndicesAndBadShapes() throws {
        let data = try floats([2, 3])
        expectError("ScatterElements", [:], [data, try int64([1, 1], [5]), try floats([1, 1])], "out of range")
        expectError("ScatterElements", [:], [data, try int64([1, 2], [0, 1]), try floats([1, 1])], "one shape")
        expectError("ScatterElements", opset: 13, ["reduction": .string("add")], [data, try int64([1, 1], [0]), try floats([1, 1])],
                    "not supported at opset 13")
        expectError("ScatterND", [:], [data, try int64([1, 1], [-3]), try floats([1, 3])], "out of range")
        expectError("ScatterND", [:], [data, try int64([1, 3], [0, 0, 0]), try floats([1])], "invalid")
        expectError("ScatterND", [:], [data, try int64([1, 1], [0]), try floats([1, 2])], "updates shape")
        let added = try run("ScatterND", opset: 16, ["reduction": .string("add")], [data, try int64([2, 1], [1, 1]), try floats([2, 3])])[0]
        XCTAssertEqual(added.floats, [0, 1, 2, 6, 9, 12] as [Float], "row 1 plus both updates")
    }

    func testOtherOpsRejectBadInput() throws {
        expectError("DepthToSpace", ["blocksize": .int(2)], [try floats([1, 3, 2, 2])], "blocksize 2")
        expectError("SpaceToDepth", ["blocksize": .int(0)], [try floats([1, 1, 2, 2])], "blocksize 0")
        expectError("Trilu", opset: 14, [:], [try floats([3])], "rank 2")
        expectError("OneHot", [:], [try int64([1], [0]), try int64([], [-2]), try f32([0, 1])], "depth")
        expectError("OneHot", [:], [try int64([1], [0]), try int64([], [1 << 36]), try f32([0, 1])], "limit")
        expectError("Compress", ["axis": .int(0)], [try floats([2, 2]), try Tensor(shape: [3], values: [false, false, true])], "beyond")
        expectError("ReverseSequence", [:], [try floats([3, 2]), try int64([2], [4, 1])], "outside")
        expectError("CumSum", [:], [try floats([2]), try int64([], [3])], "out of range")
        expectError("Det", [:], [try floats([2, 3])], "square")
        expectError("BitShift", ["direction": .string("UP")], [try int64([1], [1]), try int64([1], [1])], "LEFT or RIGHT")
        expectError("BitShift", ["direction": .string("LEFT")], [try int64([1], [1]), try int64([1], [1])], "unsigned")
        expectError("EyeLike", [:], [try floats([2, 2, 2])], "2-D")
        expectError("Einsum", ["equation": .string("ij,jk")], [try floats([2, 2])], "inputs")
        expectError("Einsum", ["equation": .string("ij->iz")], [try floats([2, 2])], "appears in no input")
        expectError("NonMaxSuppression", [:], [try floats([1, 2, 3]), try floats([1, 1, 2])], "boxes [B, N, 4]")
        expectError("GridSample", opset: 16, ["mode": .string("linear")], [try floats([1, 1, 2, 2]), try floats([1, 1, 1, 2])], "mode 'linear'")
        expectError("RoiAlign", [:], [try floats([1, 1, 2, 2]), try floats([1, 4]), try int64([1], [3])], "out of range")
        let shifted = try run("BitShift", ["direction": .string("LEFT")],
                              [try Tensor(shape: [2], values: [UInt8(1), 3]), try Tensor(shape: [2], values: [UInt8(9), 1])])[0]
        XCTAssertEqual(try shifted.values(UInt8.self), [0, 6], "a shift past the width gives 0")
    }
}
