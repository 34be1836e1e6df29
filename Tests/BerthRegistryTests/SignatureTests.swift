@testable import BerthRegistry
import Foundation
import XCTest

/// Signatures: read from the ONNX file, compared on push.
final class SignatureTests: RegistryTestCase {
    private typealias T = TestModels.Tensor

    private func spec(_ name: String, _ datatype: String, _ shape: [Int]) -> TensorSpec {
        TensorSpec(name: name, datatype: datatype, shape: shape)
    }

    private func signature(inputs: [TensorSpec], outputs: [TensorSpec] = [TensorSpec(name: "Y", datatype: "FP32", shape: [-1, 4])]) -> ModelSignature {
        ModelSignature(inputs: inputs, outputs: outputs)
    }

    // MARK: Reading

    func testSignatureIsReadFromTheONNXFile() throws {
        let bytes = TestModels.bytes(
            inputs: [T("pixels", .float32, [.symbolic("batch"), .fixed(8), .fixed(8)]), T("ids", .int64, [.unknown]), T("text", .string, [.fixed(1)])],
            outputs: [T("label", .int64, [.symbolic("batch")]), T("probabilities", .float64, [.symbolic("batch"), .fixed(10)])])
        let s = try ModelSignature(onnxFile: try inputFile(bytes))
        XCTAssertEqual(s.inputs, [spec("pixels", "FP32", [-1, 8, 8]), spec("ids", "INT64", [-1]), spec("text", "BYTES", [1])])
        XCTAssertEqual(s.outputs, [spec("label", "INT64", [-1]), spec("probabilities", "FP64", [-1, 10])])
    }

    func testPushRecordsTheSignature() throws {
        let bytes = TestModels.bytes(inputs: [T("x", .float32, [.symbolic("N"), .fixed(64)])],
                                     outputs: [T("label", .int64, [.symbolic("N")])])
        let v = try push("digits", bytes)
        let expected = ModelSignature(inputs: [spec("x", "FP32", [-1, 64])], outputs: [spec("label", "INT64", [-1])])
        XCTAssertEqual(v.signature, expected)
        XCTAssertEqual(try registry.version("digits", .number(1)).signature, expected)
    }

    func testInputsWithAnInitializerAreNotPartOfTheSignature() throws {
        let bytes = TestModels.bytes(inputs: [T("X", .float32, [.symbolic("N"), .fixed(4)]), T("scale", .float32, [.fixed(1)])],
                                     initializers: ["scale"])
        let s = try ModelSignature(onnxFile: try inputFile(bytes))
        XCTAssertEqual(s.inputs.map(\.name), ["X"])
    }

    // MARK: differences()

    func testIdenticalSignaturesHaveNoDifferences() {
        let a = signature(inputs: [spec("X", "FP32", [-1, 4])])
        XCTAssertEqual(a.differences(from: a), [])
    }

    func testRenamedInputIsADifference() {
        let old = signature(inputs: [spec("X", "FP32", [-1, 4])])
        let new = signature(inputs: [spec("input", "FP32", [-1, 4])])
        let d = new.differences(from: old)
        XCTAssertEqual(d.count, 2, "\(d)")
        XCTAssertTrue(d.contains { $0.contains("'X'") && $0.contains("removed") }, "\(d)")
        XCTAssertTrue(d.contains { $0.contains("'input'") && $0.contains("new") }, "\(d)")
    }

    func testDatatypeChangeIsADifference() {
        let old = signature(inputs: [spec("X", "FP32", [-1, 4])])
        let new = signature(inputs: [spec("X", "FP64", [-1, 4])])
        let d = new.differences(from: old)
        XCTAssertEqual(d.count, 1, "\(d)")
        XCTAssertTrue(d[0].contains("FP32") && d[0].contains("FP64"), d[0])
    }

    func testRankChangeIsADifference() {
        let old = signature(inputs: [spec("X", "FP32", [-1, 4])])
        XCTAssertEqual(signature(inputs: [spec("X", "FP32", [-1, 2, 2])]).differences(from: old).count, 1)
        XCTAssertEqual(signature(inputs: [spec("X", "FP32", [-1])]).differences(from: old).count, 1)
        // Two dynamic dimensions against one: still a rank change.
        XCTAssertEqual(signature(inputs: [spec("X", "FP32", [-1, -1])]).differences(from: signature(inputs: [spec("X", "FP32", [-1])])).count, 1)
    }

    func testDynamicAgainstFixedDimensionIsNotADifference() {
        let fixed = signature(inputs: [spec("X", "FP32", [8, 4])])
        let dynamic = signature(inputs: [spec("X", "FP32", [-1, 4])])
        XCTAssertEqual(dynamic.differences(from: fixed), [])
        XCTAssertEqual(fixed.differences(from: dynamic), [])
    }

    func testDifferentFixedDimensionIsADifference() {
        let a = signature(inputs: [spec("X", "FP32", [-1, 4])])
        let b = signature(inputs: [spec("X", "FP32", [-1, 5])])
        XCTAssertEqual(b.differences(from: a).count, 1)
    }

    func testOutputChangesAreDifferences() {
        let old = signature(inputs: [spec("X", "FP32", [-1, 4])], outputs: [spec("label", "INT64", [-1])])
        let renamed = signature(inputs: [spec("X", "FP32", [-1, 4])], outputs: [spec("class", "INT64", [-1])])
        let retyped = signature(inputs: [spec("X", "FP32", [-1, 4])], outputs: [spec("label", "FP32", [-1])])
        let added = signature(inputs: [spec("X", "FP32", [-1, 4])], outputs: [spec("label", "INT64", [-1]), spec("p", "FP32", [-1, 3])])
        XCTAssertEqual(renamed.differences(from: old).count, 2)
        XCTAssertEqual(retyped.differences(from: old).count, 1)
        XCTAssertEqual(added.differences(from: old).count, 1)
        XCTAssertTrue(retyped.differences(from: old)[0].contains("output"), "\(retyped.differences(from: old))")
    }

    func testRemovedAndAddedInputsAreDifferences() {
        let one = signature(inputs: [spec("X", "FP32", [-1, 4])])
        let two = signature(inputs: [spec("X", "FP32", [-1, 4]), spec("mask", "BOOL", [-1, 4])])
        XCTAssertEqual(two.differences(from: one).count, 1)
        XCTAssertEqual(one.differences(from: two).count, 1)
    }

    // MARK: Push

    private let original = TestModels.bytes(producer: "v1")
    private let retyped = TestModels.bytes(producer: "v2", inputs: [T("X", .float64, [.symbolic("N"), .fixed(4)])])

    func testPushWithAChangedSignatureIsRefusedAndWritesNothing() throws {
        try push("digits", original)
        let before = try state()
        let error = registryError { try push("digits", retyped) }
        guard case let .signatureChanged(model, against, differences)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(model, "digits")
        XCTAssertEqual(against, 1)
        XCTAssertEqual(differences.count, 1, "\(differences)")
        XCTAssertTrue(differences[0].contains("FP64"), "\(differences)")
        XCTAssertEqual(try state(), before)
        XCTAssertEqual(try registry.versions(of: "digits").map(\.version), [1])
        XCTAssertEqual(try registry.history("digits", alias: nil).map(\.action), [.push])
        XCTAssertEqual(files(under: "tmp"), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: expectedArtifactPath(sha256Hex(retyped)).path))

        // The refused push used no version number.
        XCTAssertEqual(try push("digits", TestModels.bytes(producer: "v3")).version, 2)
    }

    func testRenamedAndReshapedInputsAreRefusedOnPush() throws {
        try push("digits", original)
        let renamed = TestModels.bytes(producer: "r", inputs: [T("input", .float32, [.symbolic("N"), .fixed(4)])])
        let reranked = TestModels.bytes(producer: "k", inputs: [T("X", .float32, [.symbolic("N"), .fixed(2), .fixed(2)])])
        for bytes in [renamed, reranked] {
            guard case .signatureChanged(model: "digits", against: 1, _)? = registryError({ try push("digits", bytes) }) else {
                return XCTFail("expected signatureChanged")
            }
        }
        XCTAssertEqual(try registry.versions(of: "digits").count, 1)
    }

    func testDynamicAgainstFixedDimensionIsAcceptedOnPush() throws {
        try push("digits", original)
        let fixedBatch = TestModels.bytes(producer: "fixed", inputs: [T("X", .float32, [.fixed(16), .fixed(4)])],
                                          outputs: [T("Y", .float32, [.fixed(16), .fixed(4)])])
        XCTAssertEqual(try push("digits", fixedBatch).version, 2)
    }

    func testAllowSignatureChangeRecordsTheNewSignature() throws {
        try push("digits", original)
        let v = try push("digits", retyped, allowSignatureChange: true)
        XCTAssertEqual(v.version, 2)
        XCTAssertEqual(v.signature.inputs, [spec("X", "FP64", [-1, 4])])
        XCTAssertEqual(try registry.version("digits", .number(2)).signature.inputs, [spec("X", "FP64", [-1, 4])])
        XCTAssertEqual(try registry.version("digits", .number(1)).signature.inputs, [spec("X", "FP32", [-1, 4])])
    }

    func testProductionIsTheReferenceWhenSet() throws {
        try push("digits", original)                                     // 1: FP32
        try push("digits", retyped, allowSignatureChange: true)          // 2: FP64 (latest)
        try registry.setAlias("digits", "production", version: 1, change: Change(actor: "ana"))
        // Matches latest, not production: refused against version 1.
        let sameAsLatest = TestModels.bytes(producer: "v3", inputs: [T("X", .float64, [.symbolic("N"), .fixed(4)])])
        guard case .signatureChanged(model: "digits", against: 1, _)? = registryError({ try push("digits", sameAsLatest) }) else {
            return XCTFail("expected signatureChanged against production (1)")
        }
        // Matches production: accepted.
        XCTAssertEqual(try push("digits", TestModels.bytes(producer: "v4")).version, 3)
    }

    func testLatestIsTheReferenceWithoutProduction() throws {
        try push("digits", original)                                     // 1: FP32
        try push("digits", retyped, allowSignatureChange: true)          // 2: FP64
        try registry.setAlias("digits", "staging", version: 1, change: Change(actor: "ana"))
        guard case .signatureChanged(model: "digits", against: 2, _)? = registryError({
            try push("digits", TestModels.bytes(producer: "v3"))
        }) else { return XCTFail("expected signatureChanged against the latest (2)") }
    }

    func testFirstPushOfAnotherModelIsNotCompared() throws {
        try push("digits", original)
        XCTAssertEqual(try push("iris", retyped).version, 1)
    }
}
