import BerthEngine
import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// StringNormalizer and TfIdfVectorizer on inputs the conformance data does not cover: bad
/// attributes and inputs are errors naming the problem, and a string pool counts strings.
final class TextOpTests: XCTestCase {
    private typealias T = TestModels.Tensor

    private func attr(_ name: String, ints: [Int64]? = nil, strings: [String]? = nil, int: Int64? = nil, string: String? = nil) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        if let ints { a.type = .ints; a.ints = ints }
        if let strings { a.type = .strings; a.strings = strings.map { Data($0.utf8) } }
        if let int { a.type = .int; a.i = int }
        if let string { a.type = .string; a.s = Data(string.utf8) }
        return a
    }

    private func session(_ node: Onnx_NodeProto, input: T, output: T) throws -> Session {
        try Session(data: TestModels.model(nodes: [node], inputs: [input], outputs: [output]).serializedData(),
                    options: SessionOptions(intraOpThreads: 1))
    }

    func testTfIdfVectorizerOverStrings() throws {
        var n = TestModels.node("TfIdfVectorizer", ["X"], ["Y"])
        // Pool: unigrams "a", "b"; bigram "a b". Columns 0, 1, 2.
        n.attribute = [attr("min_gram_length", int: 1), attr("max_gram_length", int: 2), attr("max_skip_count", int: 0),
                       attr("mode", string: "TF"), attr("ngram_counts", ints: [0, 2]), attr("ngram_indexes", ints: [0, 1, 2]),
                       attr("pool_strings", strings: ["a", "b", "a", "b"])]
        let s = try session(n, input: T("X", .string, [.fixed(2), .fixed(4)]), output: T("Y", .float32, [.fixed(2), .fixed(3)]))
        let x = try Tensor(shape: [2, 4], values: ["a", "b", "a", "b", "b", "b", "c", "a"])
        let y = try XCTUnwrap(try s.run(["X": x])["Y"])
        XCTAssertEqual(y.shape, [2, 3])
        XCTAssertEqual(try y.values(Float.self), [2, 2, 2, 1, 2, 0])
    }

    func testTextOpsRefuseBadAttributes() throws {
        var tfidf = TestModels.node("TfIdfVectorizer", ["X"], ["Y"])
        tfidf.attribute = [attr("min_gram_length", int: 2), attr("max_gram_length", int: 1), attr("max_skip_count", int: 0),
                           attr("ngram_counts", ints: [0]), attr("ngram_indexes", ints: [0]), attr("pool_int64s", ints: [1])]
        XCTAssertThrowsError(try session(tfidf, input: T("X", .int64, [.fixed(3)]), output: T("Y", .float32, [.fixed(1)]))) { e in
            XCTAssertTrue("\(e)".contains("min_gram_length <= max_gram_length"), "\(e)")
        }
        var norm = TestModels.node("StringNormalizer", ["X"], ["Y"])
        norm.attribute = [attr("case_change_action", string: "TITLE")]
        XCTAssertThrowsError(try session(norm, input: T("X", .string, [.fixed(3)]), output: T("Y", .string, [.unknown]))) { e in
            XCTAssertTrue("\(e)".contains("LOWER, UPPER or NONE"), "\(e)")
        }
    }
}
