import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// Bitwise and string ops of opsets 18–20 on what the ORT cross-check cannot print (uint64 past
/// 2^63) and on bad inputs.
final class BitwiseAndStringOpTests: XCTestCase {
    private typealias T = TestModels.Tensor

    private func session(_ node: Onnx_NodeProto, _ inputs: [T], _ outputs: [T], opset: Int64) throws -> Session {
        var m = TestModels.model(nodes: [node], inputs: inputs, outputs: outputs)
        m.opsetImport[0].version = opset
        return try Session(data: m.serializedData(), options: SessionOptions(intraOpThreads: 1))
    }

    func testBitwiseOnUInt64AndMixedTypes() throws {
        let a = try Tensor(shape: [2], values: [UInt64.max, 0x00FF_00FF_00FF_00FF])
        let b = try Tensor(shape: [1], values: [UInt64(0xF0F0_F0F0_F0F0_F0F0)])
        let and = try session(TestModels.node("BitwiseAnd", ["A", "B"], ["Y"]), [T("A", .uint64, [.fixed(2)]), T("B", .uint64, [.fixed(1)])],
                              [T("Y", .uint64, [.fixed(2)])], opset: 18)
        XCTAssertEqual(try and.run(["A": a, "B": b])["Y"]?.values(UInt64.self), [0xF0F0_F0F0_F0F0_F0F0, 0x00F0_00F0_00F0_00F0])
        let not = try session(TestModels.node("BitwiseNot", ["A"], ["Y"]), [T("A", .uint64, [.fixed(2)])], [T("Y", .uint64, [.fixed(2)])], opset: 18)
        XCTAssertEqual(try not.run(["A": a])["Y"]?.values(UInt64.self), [0, 0xFF00_FF00_FF00_FF00])
        let xor = try session(TestModels.node("BitwiseXor", ["A", "B"], ["Y"]), [T("A", .float32, [.fixed(1)]), T("B", .float32, [.fixed(1)])],
                              [T("Y", .float32, [.fixed(1)])], opset: 18)
        let f = try Tensor(shape: [1], values: [Float(1)])
        XCTAssertThrowsError(try xor.run(["A": f, "B": f])) { XCTAssertTrue("\($0)".contains("needs integer inputs"), "\($0)") }
    }

    func testStringSplit() {
        XCTAssertEqual(stringSplitForTest("  a  b c ", "", nil), ["a", "b", "c"])
        XCTAssertEqual(stringSplitForTest("  a  b c ", "", 1), ["a", "b c"])
        XCTAssertEqual(stringSplitForTest("a,,b", ",", nil), ["a", "", "b"])
        XCTAssertEqual(stringSplitForTest("a,,b", ",", 0), ["a,,b"])
        XCTAssertEqual(stringSplitForTest("", ",", nil), [])
    }

    private func stringSplitForTest(_ s: String, _ delimiter: String, _ maxSplit: Int?) -> [String] {
        var n = TestModels.node("StringSplit", ["X"], ["Y", "Z"])
        var d = Onnx_AttributeProto(); d.name = "delimiter"; d.type = .string; d.s = Data(delimiter.utf8)
        n.attribute = [d]
        if let maxSplit { var a = Onnx_AttributeProto(); a.name = "maxsplit"; a.type = .int; a.i = Int64(maxSplit); n.attribute.append(a) }
        do {
            let s2 = try session(n, [T("X", .string, [.fixed(1)])], [T("Y", .string, [.fixed(1), .unknown]), T("Z", .int64, [.fixed(1)])], opset: 20)
            let out = try s2.run(["X": try Tensor(shape: [1], values: [s])])
            let count = Int(try XCTUnwrap(out["Z"]).values(Int64.self)[0])
            return Array(try XCTUnwrap(out["Y"]).values(String.self).prefix(count))
        } catch {
            XCTFail("\(error)")
            return []
        }
    }
}
