@testable import BerthRegistry
import Foundation
import XCTest

/// Pushing versions: numbering, what is recorded, where the file goes.
final class PushTests: RegistryTestCase {
    func testFirstPushCreatesModelAndRecordsVersionOne() throws {
        let bytes = TestModels.bytes()
        let source = try inputFile(bytes)
        let request = PushRequest(model: "digits", description: "handwritten digits", tags: ["team": "ml"], params: ["C": "1.0"],
                                  trainingDataDigest: "abc123", metrics: ["accuracy": 0.97, "f1": 0.5],
                                  actor: "ana", reason: "first model")
        let pushed = try registry.push(file: source, request)

        XCTAssertEqual(pushed.model, "digits")
        XCTAssertEqual(pushed.version, 1)
        XCTAssertEqual(pushed.sha256, sha256Hex(bytes))
        XCTAssertEqual(pushed.size, Int64(bytes.count))
        XCTAssertEqual(pushed.aliases, [])

        // What a later read sees.
        let read = try registry.version("digits", .number(1))
        XCTAssertEqual(read.version, 1)
        XCTAssertEqual(read.sha256, sha256Hex(bytes))
        XCTAssertEqual(read.size, Int64(bytes.count))
        XCTAssertEqual(read.signature, ModelSignature(inputs: [TensorSpec(name: "X", datatype: "FP32", shape: [-1, 4])],
                                                      outputs: [TensorSpec(name: "Y", datatype: "FP32", shape: [-1, 4])]))
        XCTAssertEqual(read.metrics, ["accuracy": 0.97, "f1": 0.5])
        XCTAssertEqual(read.params, ["C": "1.0"])
        XCTAssertEqual(read.tags, ["team": "ml"])
        XCTAssertNil(read.parent)
        XCTAssertEqual(read.trainingDataDigest, "abc123")
        XCTAssertEqual(read.createdBy, "ana")
        XCTAssertEqual(read.aliases, [])
        XCTAssertEqual(read.createdAt.timeIntervalSince1970, pushed.createdAt.timeIntervalSince1970, accuracy: 0.001)

        let model = try registry.model("digits")
        XCTAssertEqual(model.name, "digits")
        XCTAssertEqual(model.description, "handwritten digits")
        XCTAssertEqual(model.latestVersion, 1)
        XCTAssertEqual(model.aliases, [:])
        XCTAssertEqual(model.createdBy, "ana")
        XCTAssertEqual(try registry.models().map(\.name), ["digits"])

        let history = try registry.history("digits", alias: nil)
        XCTAssertEqual(history.count, 1)
        XCTAssertEqual(history.first?.action, .push)
        XCTAssertEqual(history.first?.model, "digits")
        XCTAssertNil(history.first?.from)
        XCTAssertEqual(history.first?.to, 1)
        XCTAssertEqual(history.first?.actor, "ana")
        XCTAssertEqual(history.first?.reason, "first model")

        // The source file is copied, not moved.
        XCTAssertEqual(try Data(contentsOf: source), bytes)
    }

    func testArtifactIsStoredUnderItsDigestAndNothingStaysInTmp() throws {
        let bytes = TestModels.bytes()
        let v = try push("digits", bytes)
        let expected = expectedArtifactPath(sha256Hex(bytes))
        XCTAssertEqual(registry.store.url(sha256: v.sha256).standardizedFileURL.path, expected.standardizedFileURL.path)
        XCTAssertEqual(try Data(contentsOf: expected), bytes)
        XCTAssertEqual(files(under: "artifacts"), ["artifacts/sha256/\(v.sha256.prefix(2))/\(v.sha256).onnx"])
        XCTAssertEqual(files(under: "tmp"), [])
    }

    func testVersionNumbersIncreaseByOne() throws {
        for (i, producer) in ["a", "b", "c"].enumerated() {
            let v = try push("digits", TestModels.bytes(producer: producer))
            XCTAssertEqual(v.version, i + 1)
        }
        XCTAssertEqual(try registry.versions(of: "digits").map(\.version), [1, 2, 3])
        XCTAssertEqual(try registry.model("digits").latestVersion, 3)
    }

    func testVersionNumbersAreNeverReusedAfterDelete() throws {
        try push("digits", TestModels.bytes(producer: "a"))
        try push("digits", TestModels.bytes(producer: "b"))
        try registry.deleteVersion("digits", 2, change: Change(actor: "ana"))
        XCTAssertEqual(try registry.model("digits").latestVersion, 1)
        let v = try push("digits", TestModels.bytes(producer: "c"))
        XCTAssertEqual(v.version, 3)
        XCTAssertEqual(try registry.versions(of: "digits").map(\.version), [1, 3])
    }

    func testVersionNumbersAreNeverReusedAfterDeletingEveryVersion() throws {
        try push("digits", TestModels.bytes(producer: "a"))
        try registry.deleteVersion("digits", 1, change: Change(actor: "ana"))
        XCTAssertNil(try registry.model("digits").latestVersion)
        XCTAssertEqual(try push("digits", TestModels.bytes(producer: "b")).version, 2)
    }

    func testModelsAreNumberedIndependently() throws {
        try push("digits", TestModels.bytes(producer: "a"))
        try push("digits", TestModels.bytes(producer: "b"))
        XCTAssertEqual(try push("iris", TestModels.bytes(producer: "c")).version, 1)
        XCTAssertEqual(try registry.models().map(\.name), ["digits", "iris"])
        XCTAssertEqual(try registry.model("iris").latestVersion, 1)
        XCTAssertEqual(try registry.model("digits").latestVersion, 2)
    }

    func testParentIsRecorded() throws {
        try push("digits", TestModels.bytes(producer: "a"))
        let v2 = try registry.push(file: try inputFile(TestModels.bytes(producer: "b")),
                                   PushRequest(model: "digits", parent: 1, actor: "bo"))
        XCTAssertEqual(v2.parent, 1)
        XCTAssertEqual(try registry.version("digits", .number(2)).parent, 1)
        XCTAssertEqual(try registry.version("digits", .number(2)).createdBy, "bo")
    }

    func testLaterPushWithoutDescriptionKeepsTheDescription() throws {
        _ = try registry.push(file: try inputFile(TestModels.bytes(producer: "a")),
                              PushRequest(model: "digits", description: "first", actor: "ana"))
        try push("digits", TestModels.bytes(producer: "b"))
        XCTAssertEqual(try registry.model("digits").description, "first")
        _ = try registry.push(file: try inputFile(TestModels.bytes(producer: "c")),
                              PushRequest(model: "digits", description: "second", actor: "ana"))
        XCTAssertEqual(try registry.model("digits").description, "second")
        XCTAssertEqual(try registry.model("digits").createdBy, "ana")
    }

    func testStagedPushFromAWriter() throws {
        let bytes = TestModels.bytes()
        let writer = try registry.store.makeWriter()
        // In two pieces, as an upload arrives.
        let cut = bytes.count / 2
        try bytes.prefix(cut).withUnsafeBytes { try writer.write($0) }
        try bytes.dropFirst(cut).withUnsafeBytes { try writer.write($0) }
        let staged = try writer.finish()
        XCTAssertEqual(staged.sha256, sha256Hex(bytes))
        let v = try registry.push(staged, PushRequest(model: "digits", actor: "api"))
        XCTAssertEqual(v.sha256, sha256Hex(bytes))
        XCTAssertEqual(try Data(contentsOf: expectedArtifactPath(v.sha256)), bytes)
        XCTAssertFalse(FileManager.default.fileExists(atPath: staged.url.path))
    }

    func testArtifactReturnsTheVerifiedFileByNumberAndAlias() throws {
        let a = TestModels.bytes(producer: "a")
        let b = TestModels.bytes(producer: "b")
        try push("digits", a)
        try push("digits", b)
        try registry.setAlias("digits", "production", version: 1, change: Change(actor: "ana"))
        let byAlias = try registry.artifact("digits", .alias("production"))
        XCTAssertEqual(byAlias.record.version, 1)
        XCTAssertEqual(try Data(contentsOf: byAlias.url), a)
        let byNumber = try registry.artifact("digits", .number(2))
        XCTAssertEqual(byNumber.record.version, 2)
        XCTAssertEqual(try Data(contentsOf: byNumber.url), b)
    }

    func testReopenedRegistryKeepsEverything() throws {
        let bytes = TestModels.bytes()
        try push("digits", bytes, metrics: ["accuracy": 0.9])
        try registry.setAlias("digits", "production", version: 1, change: Change(actor: "ana"))
        registry = nil
        let reopened = try openRegistry()
        let v = try reopened.version("digits", .alias("production"))
        XCTAssertEqual(v.version, 1)
        XCTAssertEqual(v.sha256, sha256Hex(bytes))
        XCTAssertEqual(v.metrics, ["accuracy": 0.9])
        XCTAssertEqual(v.aliases, ["production"])
        XCTAssertEqual(try Data(contentsOf: try reopened.artifact("digits", .number(1)).url), bytes)
    }
}
