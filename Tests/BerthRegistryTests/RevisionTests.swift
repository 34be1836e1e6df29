import BerthGate
@testable import BerthRegistry
import Foundation
import XCTest

/// The revision number servers poll: every write moves it, reads do not.
final class RevisionTests: RegistryTestCase {
    private let by = Change(actor: "ana")

    /// Runs `body` and checks that the revision went up.
    private func assertIncreases(_ what: String, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try registry.revision()
        try body()
        let after = try registry.revision()
        XCTAssertGreaterThan(after, before, "\(what) did not change the revision", file: file, line: line)
    }

    private func assertUnchanged(_ what: String, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try registry.revision()
        try body()
        XCTAssertEqual(try registry.revision(), before, "\(what) changed the revision", file: file, line: line)
    }

    func testFreshRegistryStartsAtZero() throws {
        XCTAssertEqual(try registry.revision(), 0)
        try push("digits")
        XCTAssertEqual(try registry.revision(), 1)
    }

    func testEveryWriteIncreasesTheRevision() throws {
        var seen: [Int64] = [try registry.revision()]
        func step(_ what: String, _ body: () throws -> Void) throws {
            try assertIncreases(what, body)
            seen.append(try registry.revision())
        }
        try step("push 1") { try push("digits", TestModels.bytes(producer: "a"), metrics: ["accuracy": 0.9]) }
        try step("push 2") { try push("digits", TestModels.bytes(producer: "b"), metrics: ["accuracy": 0.95]) }
        try step("push 3") { try push("digits", TestModels.bytes(producer: "c")) }
        try step("setAlias") { try registry.setAlias("digits", "candidate", version: 2, change: by) }
        try step("promote 1") { try registry.promote("digits", version: 1, gates: [], alias: "production", change: by) }
        try step("promote 2") {
            try registry.promote("digits", version: 2, gates: [try Gate(expression: "accuracy>=0.9")], alias: "production", change: by)
        }
        try step("rollback") { try registry.rollback("digits", alias: "production", change: by) }
        try step("setTraffic") {
            try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10)), change: by)
        }
        try step("clear traffic") { try registry.setTraffic("digits", TrafficPolicy(), change: by) }
        try step("removeAlias") { try registry.removeAlias("digits", "candidate", change: by) }
        try step("delete") { try registry.deleteVersion("digits", 3, change: by) }
        XCTAssertEqual(seen, seen.sorted())
        XCTAssertEqual(Set(seen).count, seen.count)
    }

    func testReadsDoNotChangeTheRevision() throws {
        try push("digits", TestModels.bytes(producer: "a"), metrics: ["accuracy": 0.9])
        try push("digits", TestModels.bytes(producer: "b"))
        try registry.setAlias("digits", "production", version: 1, change: by)
        try registry.setAlias("digits", "production", version: 2, change: by)
        try registry.setAlias("digits", "candidate", version: 1, change: by)
        try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10)), change: by)
        try assertUnchanged("reads") {
            _ = try registry.models()
            _ = try registry.model("digits")
            _ = try registry.versions(of: "digits")
            _ = try registry.version("digits", .number(1))
            _ = try registry.version("digits", .alias("production"))
            _ = try registry.history("digits", alias: nil)
            _ = try registry.history("digits", alias: "production")
            _ = try registry.traffic("digits")
            _ = try registry.deployments()
            _ = try registry.artifact("digits", .alias("production"))
            _ = try registry.rollbackTarget("digits", alias: "production")
            try registry.checkPromotion("digits", version: 1, gates: [try Gate(expression: "accuracy>=0.5")], alias: "production")
            _ = try registry.revision()
        }
    }

    func testRefusedWritesDoNotChangeTheRevision() throws {
        try push("digits", TestModels.bytes(producer: "a"), metrics: ["accuracy": 0.5])
        try registry.setAlias("digits", "production", version: 1, change: by)
        try assertUnchanged("refusals") {
            _ = try? push("digits", Data("junk".utf8))
            _ = try? registry.promote("digits", version: 1, gates: [try Gate(expression: "accuracy>=0.9")], alias: "champion", change: by)
            _ = try? registry.deleteVersion("digits", 1, change: by)
            _ = try? registry.rollback("digits", alias: "production", change: by)
            _ = try? registry.setAlias("digits", "staging", version: 7, change: by)
            _ = try? registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10)), change: by)
        }
    }

    func testAnotherRegistryOnTheSameDirectorySeesTheRevision() throws {
        let other = try openRegistry()
        let start = try other.revision()
        try push("digits")
        XCTAssertGreaterThan(try other.revision(), start)
        let afterPush = try other.revision()
        try other.setAlias("digits", "production", version: 1, change: by)
        XCTAssertGreaterThan(try registry.revision(), afterPush)
        XCTAssertEqual(try registry.version("digits", .alias("production")).version, 1)
    }

    func testRevisionSurvivesReopening() throws {
        try push("digits")
        try registry.setAlias("digits", "production", version: 1, change: by)
        let before = try registry.revision()
        registry = nil
        registry = try openRegistry()
        XCTAssertEqual(try registry.revision(), before)
    }
}
