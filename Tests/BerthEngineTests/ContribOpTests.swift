import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// The com.microsoft contrib ops on bad inputs (values are checked against ONNX Runtime in
/// tests/python/test_contrib_and_new_ops.py): clear errors, no crash.
final class ContribOpTests: XCTestCase {
    private typealias T = TestModels.Tensor

    private func session(_ op: String, _ inputs: [T], attributes: [Onnx_AttributeProto] = []) throws -> Session {
        var n = TestModels.node(op, inputs.map(\.name), ["Y"], domain: "com.microsoft")
        n.attribute = attributes
        let m = TestModels.model(nodes: [n], inputs: inputs, outputs: [T("Y", .float32, [.unknown])], extraOpsets: ["com.microsoft": 1])
        return try Session(data: m.serializedData(), options: SessionOptions(intraOpThreads: 1))
    }

    private func floats(_ shape: [Int]) throws -> Tensor {
        try Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { Float($0) / 10 })
    }

    private func expectError(_ body: @autoclosure () throws -> Any, _ needle: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { e in XCTAssertTrue("\(e)".contains(needle), "'\(e)' lacks '\(needle)'", line: line) }
    }

    func testCDist() throws {
        let s = try session("CDist", [T("A", .float32, [.unknown, .unknown]), T("B", .float32, [.unknown, .unknown])])
        let y = try XCTUnwrap(try s.run(["A": try floats([2, 3]), "B": try floats([1, 3])])["Y"])
        XCTAssertEqual(y.shape, [2, 1])
        XCTAssertEqual(try y.values(Float.self)[1], 0.27, accuracy: 1e-6)  // 3 · 0.3²
        expectError(try s.run(["A": try floats([2, 3]), "B": try floats([2, 4])]), "CDist needs A [N, K] and B [M, K]")
        var metric = Onnx_AttributeProto(); metric.name = "metric"; metric.type = .string; metric.s = Data("cosine".utf8)
        expectError(try session("CDist", [T("A", .float32, [.unknown, .unknown]), T("B", .float32, [.unknown, .unknown])], attributes: [metric]),
                    "sqeuclidean or euclidean")
    }

    func testSkipLayerNormalizationShapes() throws {
        let s = try session("SkipLayerNormalization", [T("X", .float32, [.unknown, .unknown, .unknown]),
                                                       T("S", .float32, [.unknown, .unknown]), T("G", .float32, [.unknown])])
        XCTAssertEqual(try s.run(["X": try floats([2, 3, 4]), "S": try floats([3, 4]), "G": try floats([4])])["Y"]?.shape, [2, 3, 4])
        expectError(try s.run(["X": try floats([2, 3, 4]), "S": try floats([2, 4]), "G": try floats([4])]), "does not broadcast")
        expectError(try s.run(["X": try floats([2, 3, 4]), "S": try floats([3, 4]), "G": try floats([5])]), "gamma must be [4]")
    }

    func testFusedMatMulAndGeluErrors() throws {
        let mm = try session("FusedMatMul", [T("A", .float32, [.unknown]), T("B", .float32, [.unknown, .unknown])],
                             attributes: [{ var a = Onnx_AttributeProto(); a.name = "transA"; a.type = .int; a.i = 1; return a }()])
        expectError(try mm.run(["A": try floats([4]), "B": try floats([4, 2])]), "rank >= 2 to be transposed")
        let bg = try session("BiasGelu", [T("X", .float32, [.unknown, .unknown]), T("B", .float32, [.unknown])])
        expectError(try bg.run(["X": try floats([2, 4]), "B": try floats([3])]), "bias must be 1-D of the input's last dimension")
    }

    private func intAttr(_ name: String, _ v: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = v; return a
    }

    func testAttentionAndMatMulNBitsRefuseBadShapes() throws {
        let att = try session("Attention", [T("X", .float32, [.unknown, .unknown, .unknown]), T("W", .float32, [.unknown, .unknown])],
                              attributes: [intAttr("num_heads", 4)])
        expectError(try att.run(["X": try floats([1, 2, 8]), "W": try floats([8, 30])]), "do not split into Q, K, V")
        expectError(try att.run(["X": try floats([1, 2, 8]), "W": try floats([6, 24])]), "Attention needs input [B, S, D]")
        XCTAssertEqual(try att.run(["X": try floats([1, 2, 8]), "W": try floats([8, 24])])["Y"]?.shape, [1, 2, 8])

        expectError(try session("MatMulNBits", [T("A", .float32, [.unknown]), T("B", .uint8, [.unknown]), T("S", .float32, [.unknown])],
                                attributes: [intAttr("K", 16), intAttr("N", 2), intAttr("bits", 3), intAttr("block_size", 16)]),
                    "bits 2, 4 or 8")
        let mm = try session("MatMulNBits", [T("A", .float32, [.unknown, .unknown]), T("B", .uint8, [.unknown, .unknown, .unknown]),
                                             T("S", .float32, [.unknown])],
                             attributes: [intAttr("K", 16), intAttr("N", 2), intAttr("bits", 4), intAttr("block_size", 16)])
        let b = try Tensor(shape: [2, 1, 8], values: [UInt8](repeating: 0x98, count: 16))  // nibbles 8 and 9: 0 and 1
        let y = try XCTUnwrap(try mm.run(["A": try Tensor(shape: [1, 16], values: [Float](repeating: 1, count: 16)), "B": b,
                                          "S": try Tensor(shape: [2], values: [Float]([0.5, 2]))])["Y"])
        XCTAssertEqual(try y.values(Float.self), [4, 16])  // 8 ones · 0.5, 8 ones · 2
        expectError(try mm.run(["A": try floats([1, 15]), "B": b, "S": try floats([2])]), "A must be [..., 16]")
        expectError(try mm.run(["A": try floats([1, 16]), "B": try Tensor(shape: [2, 1, 4], values: [UInt8](repeating: 0, count: 8)),
                                "S": try floats([2])]), "B must be uint8 [2, 1, 8]")
    }

    func testFusedConvAndGemmActivations() throws {
        var act = Onnx_AttributeProto(); act.name = "activation"; act.type = .string; act.s = Data("Swish".utf8)
        expectError(try session("FusedGemm", [T("A", .float32, [.unknown, .unknown]), T("B", .float32, [.unknown, .unknown])], attributes: [act]),
                    "activation 'Swish' is not supported")
        act.s = Data("Clip".utf8)
        expectError(try session("FusedConv", [T("X", .float32, [.unknown, .unknown, .unknown, .unknown]), T("W", .float32, [.unknown, .unknown, .unknown, .unknown])],
                                attributes: [act]), "Clip needs activation_params")
        act.s = Data("Relu".utf8)
        let gemm = try session("FusedGemm", [T("A", .float32, [.unknown, .unknown]), T("B", .float32, [.unknown, .unknown])], attributes: [act])
        let a = try Tensor(shape: [1, 2], values: [Float]([1, -1])), b = try Tensor(shape: [2, 2], values: [Float]([1, 0, 3, 1]))
        XCTAssertEqual(try gemm.run(["A": a, "B": b])["Y"]?.values(Float.self), [0, 0])  // [1 - 3, 0 - 1] through Relu
    }

    func testEmbedLayerNormalizationRefusesOutOfRangeIds() throws {
        // Inputs are positional with gaps (no segment ids or table), so the node is built by hand.
        let n = TestModels.node("EmbedLayerNormalization", ["I", "", "W", "P", "", "G"], ["Y"], domain: "com.microsoft")
        let m = TestModels.model(nodes: [n], inputs: [T("I", .int32, [.unknown, .unknown]), T("W", .float32, [.unknown, .unknown]),
                                                      T("P", .float32, [.unknown, .unknown]), T("G", .float32, [.unknown])],
                                 outputs: [T("Y", .float32, [.unknown])], extraOpsets: ["com.microsoft": 1])
        let eln = try Session(data: m.serializedData(), options: SessionOptions(intraOpThreads: 1))
        let feeds: [String: Tensor] = ["I": try Tensor(shape: [1, 2], values: [Int32(0), 5]), "W": try floats([3, 2]),
                                       "P": try floats([4, 2]), "G": try floats([2])]
        expectError(try eln.run(feeds), "input id 5 is outside [0, 3)")
    }

    func testQLinearOpsRefuseBadParameters() throws {
        let s = try session("QLinearSigmoid", [T("X", .uint8, [.unknown]), T("XS", .float32, []), T("XZ", .uint8, []),
                                               T("YS", .float32, []), T("YZ", .uint8, [])])
        let x = try Tensor(shape: [3], values: [UInt8]([0, 128, 255]))
        let ok: [String: Tensor] = ["X": x, "XS": .scalar(Float(0.05)), "XZ": .scalar(UInt8(128)), "YS": .scalar(Float(1.0 / 256)), "YZ": .scalar(UInt8(0))]
        XCTAssertEqual(try s.run(ok)["Y"]?.values(UInt8.self), [0, 128, 255])  // sigmoid(-6.4), sigmoid(0), sigmoid(6.35) · 256, saturated
        var bad = ok
        bad["YS"] = .scalar(Float(0))
        expectError(try s.run(bad), "scale must be positive")
    }

    func testMultiHeadAttentionRefusesUnsupportedForms() throws {
        let heads = intAttr("num_heads", 2)
        let packed = try session("MultiHeadAttention", [T("Q", .float32, [.unknown, .unknown, .unknown, .unknown, .unknown])], attributes: [heads])
        expectError(try packed.run(["Q": try floats([1, 2, 2, 3, 2])]), "3-D query, key and value only")
        let s = try session("MultiHeadAttention", [T("Q", .float32, [.unknown, .unknown, .unknown]), T("K", .float32, [.unknown, .unknown, .unknown]),
                                                   T("V", .float32, [.unknown, .unknown, .unknown])], attributes: [heads])
        expectError(try s.run(["Q": try floats([1, 2, 4]), "K": try floats([1, 3, 6]), "V": try floats([1, 3, 4])]), "do not agree over 2 heads")
        XCTAssertEqual(try s.run(["Q": try floats([1, 2, 4]), "K": try floats([1, 3, 4]), "V": try floats([1, 3, 6])])["Y"]?.shape, [1, 2, 6])
    }

    func testRotaryEmbeddingRefusesPositionsOutsideTheCache() throws {
        let s = try session("RotaryEmbedding", [T("X", .float32, [.unknown, .unknown, .unknown]), T("P", .int64, [.unknown, .unknown]),
                                                T("C", .float32, [.unknown, .unknown]), T("S", .float32, [.unknown, .unknown])],
                            attributes: [intAttr("num_heads", 1)])
        let feeds: [String: Tensor] = ["X": try floats([1, 2, 4]), "P": try Tensor(shape: [1, 2], values: [Int64(0), 9]),
                                       "C": try floats([4, 2]), "S": try floats([4, 2])]
        expectError(try s.run(feeds), "position 9 is outside [0, 4)")
    }

    func testInverseAndExpandDims() throws {
        let inv = try session("Inverse", [T("X", .float32, [.unknown, .unknown])])
        XCTAssertEqual(try inv.run(["X": try Tensor(shape: [2, 2], values: [Float]([2, 0, 0, 4]))])["Y"]?.values(Float.self), [0.5, 0, 0, 0.25])
        expectError(try inv.run(["X": try Tensor(shape: [2, 2], values: [Float]([1, 2, 2, 4]))]), "matrix 0 is singular")
        expectError(try inv.run(["X": try floats([2, 3])]), "square matrices")
        let ed = try session("ExpandDims", [T("X", .float32, [.unknown, .unknown]), T("A", .int32, [])])
        XCTAssertEqual(try ed.run(["X": try floats([2, 3]), "A": .scalar(Int32(1))])["Y"]?.shape, [2, 1, 3])
        expectError(try ed.run(["X": try floats([2, 3]), "A": .scalar(Int32(4))]), "ExpandDims axis")
    }

    func testTokenizer() throws {
        func strings(_ name: String, _ v: [String]) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto(); a.name = name; a.type = .strings; a.strings = v.map { Data($0.utf8) }; return a
        }
        func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto(); a.name = name; a.type = .string; a.s = Data(v.utf8); return a
        }
        var n = TestModels.node("Tokenizer", ["X"], ["Y"], domain: "com.microsoft")
        n.attribute = [intAttr("mark", 1), intAttr("mincharnum", 1), string("pad_value", "#"), strings("separators", [" ", ","])]
        let m = TestModels.model(nodes: [n], inputs: [T("X", .string, [.unknown])], outputs: [T("Y", .string, [.unknown, .unknown])],
                                 extraOpsets: ["com.microsoft": 1])
        let s = try Session(data: m.serializedData(), options: SessionOptions(intraOpThreads: 1))
        let y = try XCTUnwrap(try s.run(["X": try Tensor(shape: [2], values: ["a,b c", "d"])])["Y"])
        XCTAssertEqual(y.shape, [2, 5])
        XCTAssertEqual(try y.values(String.self), ["\u{2}", "a", "b", "c", "\u{3}", "\u{2}", "d", "\u{3}", "#", "#"])
        XCTAssertEqual(try s.run(["X": try Tensor(shape: [2], values: [" ", ","])])["Y"]?.shape, [2, 0])

        n.attribute = [intAttr("mark", 0), intAttr("mincharnum", 1), string("pad_value", "#"), string("tokenexp", "[")]
        let bad = TestModels.model(nodes: [n], inputs: [T("X", .string, [.unknown])], outputs: [T("Y", .string, [.unknown, .unknown])],
                                   extraOpsets: ["com.microsoft": 1])
        expectError(try Session(data: bad.serializedData()), "Tokenizer cannot compile tokenexp '['")
    }
}
