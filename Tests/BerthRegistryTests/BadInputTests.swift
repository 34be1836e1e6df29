import BerthGate
@testable import BerthRegistry
import Foundation
import XCTest

/// Bad requests: each is refused with the right error and leaves the registry as it was.
final class BadInputTests: RegistryTestCase {
    private let by = Change(actor: "ana")

    /// digits with versions 1 (production) and 2 (candidate, canary 10 %).
    private func populate() throws {
        try push("digits", TestModels.bytes(producer: "a"), metrics: ["accuracy": 0.9])
        try push("digits", TestModels.bytes(producer: "b"))
        try registry.setAlias("digits", "production", version: 1, change: by)
        try registry.setAlias("digits", "candidate", version: 2, change: by)
        try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10)), change: by)
    }

    /// Runs `body`, expecting it to throw a RegistryError that `matches`, and the state not to change.
    private func assertRefused<T>(_ what: String, _ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line,
                                  matches: (RegistryError) -> Bool) throws {
        let before = try state()
        if let e = registryError(body, file: file, line: line) {
            XCTAssertTrue(matches(e), "\(what): unexpected error \(e)", file: file, line: line)
        }
        XCTAssertEqual(try state(), before, "\(what) changed the registry", file: file, line: line)
    }

    private func assertRefused<T>(_ what: String, _ body: () throws -> T, is expected: RegistryError,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        try assertRefused(what, body, file: file, line: line) { $0 == expected }
    }

    private func isInvalidModel(_ e: RegistryError) -> Bool {
        if case .invalidModel = e { return true }
        return false
    }

    // MARK: Files that are not models

    func testNonONNXBytesAreRefused() throws {
        try populate()
        let junk = Data("this is not an ONNX model, just some text\n".utf8)
        try assertRefused("junk", { try push("digits", junk) }, matches: isInvalidModel)
        try assertRefused("junk, new model", { try push("fresh", junk) }, matches: isInvalidModel)
        try assertRefused("random bytes", { try push("digits", Data([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00, 0x12])) }, matches: isInvalidModel)
        XCTAssertEqual(files(under: "tmp"), [])
        XCTAssertEqual(registryError { try registry.model("fresh") }, .modelNotFound("fresh"))
    }

    func testEmptyFileIsRefused() throws {
        try populate()
        try assertRefused("empty", { try push("digits", Data()) }, matches: isInvalidModel)
        try assertRefused("empty, new model", { try push("fresh", Data()) }, matches: isInvalidModel)
    }

    func testTruncatedModelIsRefused() throws {
        try populate()
        let whole = TestModels.bytes(producer: "c")
        try assertRefused("half", { try push("digits", whole.prefix(whole.count / 2)) }, matches: isInvalidModel)
        try assertRefused("all but one byte", { try push("digits", whole.prefix(whole.count - 1)) }, matches: isInvalidModel)
        XCTAssertEqual(files(under: "tmp"), [])
    }

    func testModelWithoutGraphIsRefused() throws {
        var m = TestModels.proto(inputs: [], outputs: [])
        m.clearGraph()
        try assertRefused("no graph", { try push("digits", try m.serializedData()) }, matches: isInvalidModel)
        let noOutputs = try TestModels.proto(inputs: [TestModels.Tensor("X", .float32, [.fixed(1)])], outputs: []).serializedData()
        try assertRefused("no outputs", { try push("digits", noOutputs) }, matches: isInvalidModel)
    }

    func testPushOfAMissingFileIsBadInput() throws {
        let missing = scratch.appendingPathComponent("inputs/missing.onnx")
        try assertRefused("missing file", {
            try registry.push(file: missing, PushRequest(model: "digits", actor: "ana"))
        }) { if case .badInput = $0 { return true }; return false }
    }

    // MARK: Names

    func testInvalidModelNamesAreRefused() throws {
        try populate()
        for name in ["", "has space", "a/b", "-leading", "_leading", ".hidden", "ünïcode", "semi;colon", "at@2",
                     String(repeating: "m", count: 129)] {
            try assertRefused("model name '\(name)'", { try push(name, TestModels.bytes(producer: "c")) }) { e in
                if case .invalidName(kind: "model", name: name, _) = e { return true }
                return false
            }
        }
        XCTAssertEqual(files(under: "tmp"), [])
    }

    func testValidModelNamesAreAccepted() throws {
        for name in ["digits", "Digits_v2.1-rc", "3d-model", String(repeating: "m", count: 128)] {
            XCTAssertEqual(try push(name, TestModels.bytes(producer: name)).model, name)
        }
        XCTAssertEqual(try registry.models().count, 4)
    }

    func testInvalidAliasNamesAreRefused() throws {
        try populate()
        for alias in ["", "1st", "3", "prod.uction", "has space", "a/b", "-x", "_x", "prod@1", String(repeating: "a", count: 129)] {
            let isInvalidAlias: (RegistryError) -> Bool = { e in
                if case .invalidName(kind: "alias", name: alias, _) = e { return true }
                return false
            }
            try assertRefused("setAlias '\(alias)'", { try registry.setAlias("digits", alias, version: 1, change: by) }, matches: isInvalidAlias)
            try assertRefused("promote '\(alias)'", {
                try registry.promote("digits", version: 2, gates: [], alias: alias, change: by)
            }, matches: isInvalidAlias)
            try assertRefused("canary '\(alias)'", {
                try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: alias, percent: 5)), change: by)
            }, matches: isInvalidAlias)
        }
    }

    func testValidAliasNamesAreAccepted() throws {
        try push("digits")
        for alias in ["production", "staging", "champion", "candidate", "A", "blue-green_2"] {
            XCTAssertEqual(try registry.setAlias("digits", alias, version: 1, change: by).alias, alias)
        }
        XCTAssertEqual(try registry.version("digits", .number(1)).aliases.count, 6)
    }

    // MARK: Unknown model, version, alias

    func testUnknownModel() throws {
        try populate()
        let missing = RegistryError.modelNotFound("nope")
        try assertRefused("model", { try registry.model("nope") }, is: missing)
        try assertRefused("versions", { try registry.versions(of: "nope") }, is: missing)
        try assertRefused("version", { try registry.version("nope", .number(1)) }, is: missing)
        try assertRefused("history", { try registry.history("nope", alias: nil) }, is: missing)
        try assertRefused("traffic", { try registry.traffic("nope") }, is: missing)
        try assertRefused("artifact", { try registry.artifact("nope", .alias("production")) }, is: missing)
        try assertRefused("setAlias", { try registry.setAlias("nope", "production", version: 1, change: by) }, is: missing)
        try assertRefused("removeAlias", { try registry.removeAlias("nope", "production", change: by) }, is: missing)
        try assertRefused("promote", { try registry.promote("nope", version: 1, gates: [], alias: "production", change: by) }, is: missing)
        try assertRefused("checkPromotion", { try registry.checkPromotion("nope", version: 1, gates: [], alias: "production") }, is: missing)
        try assertRefused("rollback", { try registry.rollback("nope", alias: "production", change: by) }, is: missing)
        try assertRefused("rollbackTarget", { try registry.rollbackTarget("nope", alias: "production") }, is: missing)
        try assertRefused("delete", { try registry.deleteVersion("nope", 1, change: by) }, is: missing)
        try assertRefused("setTraffic", { try registry.setTraffic("nope", TrafficPolicy(), change: by) }, is: missing)
    }

    func testUnknownVersion() throws {
        try populate()
        let missing = RegistryError.versionNotFound(model: "digits", version: 9)
        try assertRefused("version", { try registry.version("digits", .number(9)) }, is: missing)
        try assertRefused("artifact", { try registry.artifact("digits", .number(9)) }, is: missing)
        try assertRefused("setAlias", { try registry.setAlias("digits", "staging", version: 9, change: by) }, is: missing)
        try assertRefused("promote", { try registry.promote("digits", version: 9, gates: [], alias: "production", change: by) }, is: missing)
        try assertRefused("checkPromotion", { try registry.checkPromotion("digits", version: 9, gates: [], alias: "production") }, is: missing)
        try assertRefused("delete", { try registry.deleteVersion("digits", 9, change: by) }, is: missing)
        try assertRefused("parent", {
            try registry.push(file: try inputFile(TestModels.bytes(producer: "c")), PushRequest(model: "digits", parent: 9, actor: "ana"))
        }, is: missing)
        XCTAssertEqual(files(under: "tmp"), [])
    }

    func testDeletedVersionIsUnknown() throws {
        try populate()
        try push("digits", TestModels.bytes(producer: "c"))
        try registry.deleteVersion("digits", 3, change: by)
        let missing = RegistryError.versionNotFound(model: "digits", version: 3)
        try assertRefused("version", { try registry.version("digits", .number(3)) }, is: missing)
        try assertRefused("setAlias", { try registry.setAlias("digits", "staging", version: 3, change: by) }, is: missing)
        try assertRefused("delete again", { try registry.deleteVersion("digits", 3, change: by) }, is: missing)
    }

    func testUnknownAlias() throws {
        try populate()
        let missing = RegistryError.aliasNotFound(model: "digits", alias: "staging")
        try assertRefused("version", { try registry.version("digits", .alias("staging")) }, is: missing)
        try assertRefused("artifact", { try registry.artifact("digits", .alias("staging")) }, is: missing)
        try assertRefused("removeAlias", { try registry.removeAlias("digits", "staging", change: by) }, is: missing)
        try assertRefused("rollback", { try registry.rollback("digits", alias: "staging", change: by) }, is: missing)
        try assertRefused("canary", {
            try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "staging", percent: 5)), change: by)
        }, is: missing)
        try assertRefused("shadow", {
            try registry.setTraffic("digits", TrafficPolicy(shadow: .init(alias: "staging", percent: 100)), change: by)
        }, is: missing)
    }

    // MARK: Traffic

    /// Both a canary and a shadow of `alias` at `percent` are refused as bad input.
    private func assertTrafficRefused(alias: String, percent: Double) throws {
        let isBadInput: (RegistryError) -> Bool = { if case .badInput = $0 { return true }; return false }
        try assertRefused("canary \(alias) \(percent)", {
            try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: alias, percent: percent)), change: by)
        }, matches: isBadInput)
        try assertRefused("shadow \(alias) \(percent)", {
            try registry.setTraffic("digits", TrafficPolicy(shadow: .init(alias: alias, percent: percent)), change: by)
        }, matches: isBadInput)
    }

    func testTrafficPercentOutOfRange() throws {
        try populate()
        for percent in [-1, -0.001, 100.001, 101, 1000, Double.nan, Double.infinity, -Double.infinity] {
            try assertTrafficRefused(alias: "candidate", percent: percent)
        }
        XCTAssertEqual(try registry.traffic("digits").canary?.percent, 10)
    }

    func testTrafficBoundsAreAccepted() throws {
        try populate()
        XCTAssertEqual(try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 0)), change: by).canary?.percent, 0)
        XCTAssertEqual(try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 100)), change: by).canary?.percent, 100)
    }

    func testProductionCannotBeTheCanaryOrShadow() throws {
        try populate()
        try assertTrafficRefused(alias: "production", percent: 5)
    }

    // MARK: Delete

    func testDeleteOfAnAliasedVersionIsRefused() throws {
        try populate()
        for version in [1, 2] {
            try assertRefused("delete \(version)", { try registry.deleteVersion("digits", version, change: by) }) { e in
                if case .conflict = e { return true }
                return false
            }
        }
        XCTAssertEqual(try registry.versions(of: "digits").map(\.version), [1, 2])
        // Once the alias moves away, the delete goes through.
        try registry.removeAlias("digits", "candidate", change: by)
        XCTAssertEqual(try registry.deleteVersion("digits", 2, change: by).action, .delete)
        XCTAssertEqual(try registry.versions(of: "digits").map(\.version), [1])
    }

    func testErrorsAreClientErrorsExceptStorage() {
        XCTAssertTrue(RegistryError.modelNotFound("x").isClientError)
        XCTAssertTrue(RegistryError.signatureChanged(model: "x", against: 1, differences: []).isClientError)
        XCTAssertFalse(RegistryError.storage("disk").isClientError)
        XCTAssertFalse(RegistryError.corruptArtifact(model: "x", version: 1, reason: "bad").isClientError)
    }
}
