import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// GroupQueryAttention (com.microsoft) on untrusted sizes: clear errors, no crash and no
/// allocation sized by a bad scalar. Values are checked against ONNX Runtime in
/// tests/python/test_gqa.py.
final class GroupQueryAttentionTests: XCTestCase {
    private typealias T = TestModels.Tensor

    /// query [B, S, 4·4], key / value [B, S, 2·4], past [B, 2, P, 4], seqlens_k, total_sequence_length.
    private func session(heads: Int64 = 4, kvHeads: Int64 = 2) throws -> Session {
        let u: [Dim] = [.unknown, .unknown, .unknown]
        let inputs = [T("Q", .float32, u), T("K", .float32, u), T("V", .float32, u), T("PK", .float32, u + [.unknown]),
                      T("PV", .float32, u + [.unknown]), T("SK", .int32, [.unknown]), T("TS", .int32, [])]
        var n = TestModels.node("GroupQueryAttention", inputs.map(\.name), ["Y"], domain: "com.microsoft")
        n.attribute = [TestModels.intAttribute("num_heads", heads), TestModels.intAttribute("kv_num_heads", kvHeads)]
        let m = TestModels.model(nodes: [n], inputs: inputs, outputs: [T("Y", .float32, [.unknown])], extraOpsets: ["com.microsoft": 1])
        return try Session(data: m.serializedData(), options: SessionOptions(intraOpThreads: 1))
    }

    private func zeros(_ shape: [Int]) throws -> Tensor { try Tensor(shape: shape, values: [Float](repeating: 0.5, count: shape.reduce(1, *))) }

    private func feeds(s: Int = 1, past: Int = 3, seqlen: Int32, total: Int32, kvWidth: Int = 8) throws -> [String: Tensor] {
        ["Q": try zeros([1, s, 16]), "K": try zeros([1, s, kvWidth]), "V": try zeros([1, s, kvWidth]),
         "PK": try zeros([1, 2, past, 4]), "PV": try zeros([1, 2, past, 4]),
         "SK": try Tensor(shape: [1], values: [seqlen]), "TS": try Tensor(shape: [], values: [total])]
    }

    private func expectError(_ body: @autoclosure () throws -> Any, _ needle: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { e in XCTAssertTrue("\(e)".contains(needle), "'\(e)' lacks '\(needle)'", line: line) }
    }

    func testDecodeStepShapesAndUniformValues() throws {
        let out = try session().run(try feeds(seqlen: 3, total: 4))
        // Every key and value is 0.5, so attention returns 0.5 whatever the weights.
        let y = try XCTUnwrap(out["Y"])
        XCTAssertEqual(y.shape, [1, 1, 16])
        for v in try y.values(Float.self) { XCTAssertEqual(v, 0.5, accuracy: 1e-6) }
    }

    func testUntrustedLengthsAreRefused() throws {
        let s = try session()
        expectError(try s.run(try feeds(seqlen: 9, total: 4)), "seqlens_k[0] = 9 is out of range")
        expectError(try s.run(try feeds(seqlen: -2, total: 4)), "seqlens_k[0] = -2 is out of range")
        expectError(try s.run(try feeds(seqlen: 3, total: Int32.max)), "total_sequence_length \(Int32.max) must lie in")
        expectError(try s.run(try feeds(seqlen: 3, total: 0)), "total_sequence_length 0 must lie in")
        expectError(try s.run(try feeds(seqlen: 3, total: 4, kvWidth: 6)), "key and value must be [1, 1, 8]")
        var f = try feeds(seqlen: 3, total: 4)
        f["PK"] = try zeros([1, 3, 3, 4]); f["PV"] = try zeros([1, 3, 3, 4])
        expectError(try s.run(f), "past_key and past_value must be equal [1, 2, P, 4]")
    }

    func testHeadCountsAreChecked() throws {
        expectError(try session(heads: 3, kvHeads: 2), "multiple of kv_num_heads")
        expectError(try session(heads: 4, kvHeads: 0), "multiple of kv_num_heads")
    }
}
