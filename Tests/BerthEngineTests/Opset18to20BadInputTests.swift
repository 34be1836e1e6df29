@testable import BerthEngine
import BerthONNX
import BerthTensor
import XCTest

/// GroupNormalization, CenterCropPad, Col2Im, AffineGrid, MaxRoiPool and DeformConv on bad inputs: a kernel
/// error naming the problem, no crash and no huge allocation (values are checked against ONNX
/// Runtime in tests/python/test_contrib_and_new_ops.py).
final class Opset18to20BadInputTests: XCTestCase {
    let pool = ThreadPool(threads: 1)

    private func run(_ op: String, opset: Int, _ attrs: [String: Attribute] = [:], _ inputs: [Tensor?]) throws -> [Tensor] {
        let node = Node(name: "n", opType: op, inputs: inputs.map { $0 == nil ? "" : "x" }, outputs: ["y"], attributes: attrs)
        guard let factory = KernelRegistry.standard.factory(domain: "", op: op, opset: opset) else {
            throw KernelError("\(op) is not registered at opset \(opset)")
        }
        return try factory(node, opset)(inputs, KernelContext(pool: pool))
    }

    private func expectError(_ op: String, opset: Int, _ attrs: [String: Attribute] = [:], _ inputs: [Tensor?], _ needle: String,
                             line: UInt = #line) {
        XCTAssertThrowsError(try run(op, opset: opset, attrs, inputs), line: line) { e in
            XCTAssertTrue("\(e)".contains(needle), "'\(e)' lacks '\(needle)'", line: line)
        }
    }

    private func floats(_ shape: [Int]) throws -> Tensor { try Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { Float($0) }) }
    private func int64(_ v: [Int64]) throws -> Tensor { try Tensor(shape: [v.count], values: v) }

    func testBadInputs() throws {
        expectError("GroupNormalization", opset: 18, ["num_groups": .int(4)], [try floats([1, 6, 2]), try floats([4]), try floats([4])],
                    "6 channels do not divide into 4 groups")
        expectError("GroupNormalization", opset: 21, ["num_groups": .int(3)], [try floats([1, 6, 2]), try floats([3]), try floats([3])],
                    "scale and bias must be [6]")
        expectError("CenterCropPad", opset: 18, [:], [try floats([2, 3]), try int64([2])], "must give a non-negative length for each")
        expectError("CenterCropPad", opset: 18, [:], [try floats([2, 3]), try int64([1 << 20, 1 << 20])], "more than the limit")
        XCTAssertEqual(try run("CenterCropPad", opset: 18, [:], [try floats([1, 4]), try int64([3, 2])])[0].floats, [0, 0, 1, 2, 0, 0])
        expectError("Col2Im", opset: 18, [:], [try floats([1, 4, 9]), try int64([3, 3]), try int64([2, 2])], "the geometry gives 4")
        expectError("Col2Im", opset: 18, [:], [try floats([1, 4, 1]), try int64([1, 1]), try int64([2, 2])], "does not fit image")
        expectError("AffineGrid", opset: 20, [:], [try floats([1, 2, 3]), try int64([2, 1, 4, 4])], "theta must be [2, 2, 3]")
        let roi = try Tensor(shape: [1, 5], values: [Float]([3, 0, 0, 2, 2]))
        expectError("MaxRoiPool", opset: 1, ["pooled_shape": .ints([2, 2])], [try floats([1, 1, 4, 4]), roi], "batch index outside [0, 1)")
        let nan = try Tensor(shape: [1, 5], values: [Float]([0, .nan, 0, .infinity, 2]))
        expectError("MaxRoiPool", opset: 1, ["pooled_shape": .ints([2, 2])], [try floats([1, 1, 4, 4]), nan], "non-finite or huge")
        expectError("Col2Im", opset: 18, [:], [try floats([1, 4, 9]), try int64([1 << 40, 1 << 40]), try int64([2, 2])], "element count overflows")
        expectError("MaxRoiPool", opset: 1, ["pooled_shape": .ints([2])], [try floats([1, 1, 4, 4]), roi], "pooled_shape [height, width]")
        expectError("DeformConv", opset: 19, [:], [try floats([1, 2, 4, 4]), try floats([3, 2, 2, 2]), try floats([1, 8, 2, 3])],
                    "offset must be [1, 8, 3, 3]")
        expectError("DeformConv", opset: 19, ["group": .int(2)], [try floats([1, 3, 4, 4]), try floats([2, 1, 2, 2]), try floats([1, 8, 3, 3])],
                    "do not agree")
        // Zero offsets: an ordinary 2x2 convolution with ones.
        let y = try run("DeformConv", opset: 19, [:], [try floats([1, 1, 3, 3]), try Tensor(shape: [1, 1, 2, 2], values: [Float](repeating: 1, count: 4)),
                                                    try Tensor(shape: [1, 8, 2, 2], values: [Float](repeating: 0, count: 32))])[0]
        XCTAssertEqual(y.floats, [8, 12, 20, 24])
    }
}
