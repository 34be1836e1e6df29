import BerthGate
@testable import BerthRegistry
import Foundation
import XCTest

/// Aliases: set, remove, promote through gates, and the rollback stack.
final class AliasTests: RegistryTestCase {
    private let by = Change(actor: "ana", reason: "test")

    /// Pushes `count` versions of `digits` with distinct bytes and the given accuracies.
    private func pushVersions(_ count: Int, accuracy: [Double] = []) throws {
        for i in 0..<count {
            let metrics = i < accuracy.count ? ["accuracy": accuracy[i]] : [:]
            try push("digits", TestModels.bytes(producer: "v\(i + 1)"), metrics: metrics)
        }
    }

    private func production() throws -> Int {
        try registry.version("digits", .alias("production")).version
    }

    func testSetAliasPointsAtVersion() throws {
        try pushVersions(2)
        let e = try registry.setAlias("digits", "staging", version: 2, change: Change(actor: "bo", reason: "try it"))
        XCTAssertEqual(e.model, "digits")
        XCTAssertEqual(e.action, .alias)
        XCTAssertEqual(e.alias, "staging")
        XCTAssertNil(e.from)
        XCTAssertEqual(e.to, 2)
        XCTAssertEqual(e.actor, "bo")
        XCTAssertEqual(e.reason, "try it")

        XCTAssertEqual(try registry.version("digits", .alias("staging")).version, 2)
        XCTAssertEqual(try registry.version("digits", .number(2)).aliases, ["staging"])
        XCTAssertEqual(try registry.version("digits", .number(1)).aliases, [])
        XCTAssertEqual(try registry.model("digits").aliases, ["staging": 2])
        let last = try registry.history("digits", alias: nil).last
        XCTAssertEqual(last?.id, e.id)
        XCTAssertEqual(last?.action, .alias)
        XCTAssertEqual(last?.to, 2)
        XCTAssertEqual(last?.actor, "bo")
    }

    func testMovingAnAliasRecordsWhereItWas() throws {
        try pushVersions(2)
        try registry.setAlias("digits", "production", version: 1, change: by)
        let e = try registry.setAlias("digits", "production", version: 2, change: by)
        XCTAssertEqual(e.from, 1)
        XCTAssertEqual(e.to, 2)
        XCTAssertEqual(try production(), 2)
        XCTAssertEqual(try registry.version("digits", .number(1)).aliases, [])
        XCTAssertEqual(try registry.version("digits", .number(2)).aliases, ["production"])
    }

    func testSeveralAliasesOnOneVersion() throws {
        try pushVersions(1)
        try registry.setAlias("digits", "production", version: 1, change: by)
        try registry.setAlias("digits", "champion", version: 1, change: by)
        XCTAssertEqual(try registry.version("digits", .number(1)).aliases, ["champion", "production"])
        XCTAssertEqual(try registry.model("digits").aliases, ["champion": 1, "production": 1])
    }

    func testRemoveAlias() throws {
        try pushVersions(1)
        try registry.setAlias("digits", "staging", version: 1, change: by)
        let e = try registry.removeAlias("digits", "staging", change: Change(actor: "bo", reason: "done"))
        XCTAssertEqual(e.action, .unalias)
        XCTAssertEqual(e.alias, "staging")
        XCTAssertEqual(e.from, 1)
        XCTAssertNil(e.to)
        XCTAssertEqual(e.actor, "bo")
        XCTAssertEqual(registryError { try registry.version("digits", .alias("staging")) },
                       .aliasNotFound(model: "digits", alias: "staging"))
        XCTAssertEqual(try registry.model("digits").aliases, [:])
        XCTAssertEqual(try registry.version("digits", .number(1)).aliases, [])
        // A second removal has nothing to remove.
        XCTAssertEqual(registryError { try registry.removeAlias("digits", "staging", change: by) },
                       .aliasNotFound(model: "digits", alias: "staging"))
    }

    // MARK: Promotion

    func testPromoteWithPassingGates() throws {
        try pushVersions(2, accuracy: [0.8, 0.95])
        let gates = [try Gate(expression: "accuracy>=0.9"), try Gate(expression: "accuracy<1")]
        XCTAssertNoThrow(try registry.checkPromotion("digits", version: 2, gates: gates, alias: "production"))
        let e = try registry.promote("digits", version: 2, gates: gates, alias: "production", change: Change(actor: "ana", reason: "better"))
        XCTAssertEqual(e.action, .promote)
        XCTAssertEqual(e.alias, "production")
        XCTAssertNil(e.from)
        XCTAssertEqual(e.to, 2)
        XCTAssertEqual(e.reason, "better")
        XCTAssertEqual(try production(), 2)
    }

    func testPromoteToAnotherAlias() throws {
        try pushVersions(2)
        try registry.promote("digits", version: 2, gates: [], alias: "champion", change: by)
        XCTAssertEqual(try registry.model("digits").aliases, ["champion": 2])
    }

    func testPromoteRefusedByGateLeavesAliasAndHistory() throws {
        try pushVersions(2, accuracy: [0.95, 0.8])
        try registry.promote("digits", version: 1, gates: [], alias: "production", change: by)
        let before = try state()
        let gate = try Gate(expression: "accuracy>=0.9")
        XCTAssertThrowsError(try registry.checkPromotion("digits", version: 2, gates: [gate], alias: "production"))
        let error = registryError { try registry.promote("digits", version: 2, gates: [gate], alias: "production", change: by) }
        guard case let .gateFailed(model, version, failures)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(model, "digits")
        XCTAssertEqual(version, 2)
        XCTAssertEqual(failures.count, 1)
        XCTAssertTrue(failures[0].contains("0.8"), failures[0])
        XCTAssertEqual(try production(), 1)
        XCTAssertEqual(try state(), before)
    }

    func testPromoteRefusedWhenTheMetricIsMissing() throws {
        try pushVersions(1)
        let error = registryError {
            try registry.promote("digits", version: 1, gates: [try Gate(expression: "f1>0.5")], alias: "production", change: by)
        }
        guard case let .gateFailed(_, version, failures)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(version, 1)
        XCTAssertEqual(failures.count, 1)
        XCTAssertTrue(failures[0].contains("f1"), failures[0])
        XCTAssertEqual(try registry.model("digits").aliases, [:])
    }

    func testEveryFailingGateIsListed() throws {
        try pushVersions(1, accuracy: [0.5])
        let gates = [try Gate(expression: "accuracy>=0.9"), try Gate(expression: "accuracy>0.1"), try Gate(expression: "f1>=0.5")]
        guard case let .gateFailed(_, _, failures)? = registryError({
            try registry.checkPromotion("digits", version: 1, gates: gates, alias: "production")
        }) else { return XCTFail("no gateFailed") }
        XCTAssertEqual(failures.count, 2)
    }

    // MARK: Rollback

    func testRollbackWalksBackOneStepEachTime() throws {
        try pushVersions(3)
        for v in 1...3 { try registry.promote("digits", version: v, gates: [], alias: "production", change: by) }
        XCTAssertEqual(try registry.rollbackTarget("digits", alias: "production"), 2)

        let first = try registry.rollback("digits", alias: "production", change: Change(actor: "bo", reason: "bad"))
        XCTAssertEqual(first.action, .rollback)
        XCTAssertEqual(first.alias, "production")
        XCTAssertEqual(first.from, 3)
        XCTAssertEqual(first.to, 2)
        XCTAssertEqual(first.actor, "bo")
        XCTAssertEqual(first.reason, "bad")
        XCTAssertEqual(try production(), 2)

        XCTAssertEqual(try registry.rollbackTarget("digits", alias: "production"), 1)
        let second = try registry.rollback("digits", alias: "production", change: by)
        XCTAssertEqual(second.from, 2)
        XCTAssertEqual(second.to, 1)
        XCTAssertEqual(try production(), 1)

        let before = try state()
        guard case .conflict? = registryError({ try registry.rollback("digits", alias: "production", change: by) }) else {
            return XCTFail("a third rollback must be refused")
        }
        guard case .conflict? = registryError({ try registry.rollbackTarget("digits", alias: "production") }) else {
            return XCTFail("no rollback target expected")
        }
        XCTAssertEqual(try production(), 1)
        XCTAssertEqual(try state(), before)
    }

    func testRollbackSkipsDeletedVersions() throws {
        try pushVersions(3)
        for v in 1...3 { try registry.promote("digits", version: v, gates: [], alias: "production", change: by) }
        try registry.deleteVersion("digits", 2, change: by)
        XCTAssertEqual(try registry.rollbackTarget("digits", alias: "production"), 1)
        let e = try registry.rollback("digits", alias: "production", change: by)
        XCTAssertEqual(e.from, 3)
        XCTAssertEqual(e.to, 1)
        XCTAssertEqual(try production(), 1)
    }

    func testRollbackAfterRollbackThenPromote() throws {
        try pushVersions(4)
        for v in 1...3 { try registry.promote("digits", version: v, gates: [], alias: "production", change: by) }
        try registry.rollback("digits", alias: "production", change: by)   // 3 → 2
        try registry.promote("digits", version: 4, gates: [], alias: "production", change: by)
        XCTAssertEqual(try registry.rollback("digits", alias: "production", change: by).to, 2)
        XCTAssertEqual(try registry.rollback("digits", alias: "production", change: by).to, 1)
        XCTAssertEqual(try production(), 1)
    }

    func testRollbackAfterPromotingBackGoesToThePreviousVersion() throws {
        try pushVersions(2)
        try registry.promote("digits", version: 1, gates: [], alias: "production", change: by)
        try registry.promote("digits", version: 2, gates: [], alias: "production", change: by)
        try registry.promote("digits", version: 1, gates: [], alias: "production", change: by)
        XCTAssertEqual(try registry.rollback("digits", alias: "production", change: by).to, 2)
    }

    func testRollbackFollowsOnlyItsOwnAlias() throws {
        try pushVersions(3)
        try registry.setAlias("digits", "production", version: 1, change: by)
        try registry.setAlias("digits", "staging", version: 3, change: by)
        try registry.setAlias("digits", "production", version: 2, change: by)
        try registry.setAlias("digits", "staging", version: 1, change: by)
        XCTAssertEqual(try registry.rollback("digits", alias: "production", change: by).to, 1)
        XCTAssertEqual(try registry.rollback("digits", alias: "staging", change: by).to, 3)
        XCTAssertEqual(try registry.model("digits").aliases, ["production": 1, "staging": 3])
    }

    func testRemovingTheAliasForgetsItsStack() throws {
        try pushVersions(3)
        try registry.setAlias("digits", "production", version: 1, change: by)
        try registry.setAlias("digits", "production", version: 2, change: by)
        try registry.removeAlias("digits", "production", change: by)
        try registry.setAlias("digits", "production", version: 3, change: by)
        guard case .conflict? = registryError({ try registry.rollback("digits", alias: "production", change: by) }) else {
            return XCTFail("expected conflict")
        }
        XCTAssertEqual(try production(), 3)
    }

    func testRollbackOfAnUnsetAlias() throws {
        try pushVersions(1)
        XCTAssertEqual(registryError { try registry.rollback("digits", alias: "production", change: by) },
                       .aliasNotFound(model: "digits", alias: "production"))
    }

    func testAliasHistoryFilter() throws {
        try pushVersions(2)
        try registry.setAlias("digits", "production", version: 1, change: by)
        try registry.setAlias("digits", "staging", version: 2, change: by)
        try registry.promote("digits", version: 2, gates: [], alias: "production", change: by)
        let production = try registry.history("digits", alias: "production")
        XCTAssertEqual(production.map(\.action), [.alias, .promote])
        XCTAssertEqual(production.map(\.to), [1, 2])
        XCTAssertEqual(try registry.history("digits", alias: "staging").map(\.to), [2])
    }
}
