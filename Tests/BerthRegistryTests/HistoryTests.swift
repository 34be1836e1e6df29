import BerthGate
@testable import BerthRegistry
import Foundation
import XCTest

/// The history: every change is logged in order, and the log cannot be rewritten.
final class HistoryTests: RegistryTestCase {
    func testEveryChangeIsLoggedOldestFirst() throws {
        try push("digits", TestModels.bytes(producer: "a"), actor: "ana", reason: "first")
        try push("digits", TestModels.bytes(producer: "b"), actor: "ana", reason: "second")
        try registry.setAlias("digits", "candidate", version: 2, change: Change(actor: "bo", reason: "canary"))
        try registry.promote("digits", version: 1, gates: [], alias: "production", change: Change(actor: "cy", reason: "go"))
        try registry.promote("digits", version: 2, gates: [], alias: "production", change: Change(actor: "cy", reason: "go 2"))
        try registry.setTraffic("digits", TrafficPolicy(canary: .init(alias: "candidate", percent: 10)), change: Change(actor: "dee"))
        try registry.rollback("digits", alias: "production", change: Change(actor: "ed", reason: "errors"))
        try registry.removeAlias("digits", "candidate", change: Change(actor: "fay"))
        try registry.deleteVersion("digits", 2, change: Change(actor: "gus", reason: "bad"))

        let h = try registry.history("digits", alias: nil)
        XCTAssertEqual(h.map(\.action), [.push, .push, .alias, .promote, .promote, .traffic, .rollback, .unalias, .delete])
        XCTAssertEqual(h.map(\.actor), ["ana", "ana", "bo", "cy", "cy", "dee", "ed", "fay", "gus"])
        XCTAssertEqual(h.map(\.alias), [nil, nil, "candidate", "production", "production", nil, "production", "candidate", nil])
        XCTAssertEqual(h.prefix(8).map(\.from), [nil, nil, nil, nil, 1, nil, 2, 2])
        XCTAssertEqual(h.prefix(8).map(\.to), [1, 2, 2, 1, 2, nil, 1, nil])
        XCTAssertEqual(h[0].reason, "first")
        XCTAssertEqual(h[6].reason, "errors")
        XCTAssertEqual(h[8].reason, "bad")
        XCTAssertFalse(h[5].reason.isEmpty, "a traffic change without a reason describes the policy")
        XCTAssertTrue(h.allSatisfy { $0.model == "digits" })
        XCTAssertEqual(h.map(\.id), h.map(\.id).sorted())
        XCTAssertEqual(Set(h.map(\.id)).count, h.count)
        XCTAssertEqual(h.map(\.at), h.map(\.at).sorted())
    }

    func testHistoryIsPerModel() throws {
        try push("digits", TestModels.bytes(producer: "a"))
        try push("iris", TestModels.bytes(producer: "b"))
        try registry.setAlias("iris", "production", version: 1, change: Change(actor: "ana"))
        XCTAssertEqual(try registry.history("digits", alias: nil).map(\.action), [.push])
        XCTAssertEqual(try registry.history("iris", alias: nil).map(\.action), [.push, .alias])
        XCTAssertEqual(try registry.history("iris", alias: nil).map(\.model), ["iris", "iris"])
        // Event ids increase across the registry, not per model.
        let digitsPush = try XCTUnwrap(try registry.history("digits", alias: nil).first?.id)
        let irisIDs = try registry.history("iris", alias: nil).map(\.id)
        XCTAssertTrue(irisIDs.allSatisfy { $0 > digitsPush }, "\(irisIDs) vs \(digitsPush)")
    }

    func testRawUpdateOfTheHistoryFails() throws {
        try push("digits")
        try registry.setAlias("digits", "production", version: 1, change: Change(actor: "ana", reason: "ok"))
        let before = try registry.history("digits", alias: nil)
        XCTAssertThrowsError(try rawExecute("UPDATE event SET actor = 'mallory', reason = 'rewritten'")) { error in
            XCTAssertTrue("\(error)".contains("append-only"), "\(error)")
        }
        XCTAssertThrowsError(try rawExecute("UPDATE event SET to_version = 99 WHERE action = 'alias'"))
        XCTAssertEqual(try registry.history("digits", alias: nil), before)
        XCTAssertEqual(before.map(\.actor), ["ana", "ana"])
    }

    func testRawDeleteOfTheHistoryFails() throws {
        try push("digits")
        try registry.setAlias("digits", "production", version: 1, change: Change(actor: "ana"))
        let before = try registry.history("digits", alias: nil)
        XCTAssertEqual(before.count, 2)
        XCTAssertThrowsError(try rawExecute("DELETE FROM event")) { error in
            XCTAssertTrue("\(error)".contains("append-only"), "\(error)")
        }
        XCTAssertThrowsError(try rawExecute("DELETE FROM event WHERE action = 'alias'"))
        XCTAssertEqual(try rawInt("SELECT COUNT(*) FROM event"), 2)
        XCTAssertEqual(try registry.history("digits", alias: nil), before)
    }

    func testHistorySurvivesDeletingTheVersion() throws {
        try push("digits")
        try registry.deleteVersion("digits", 1, change: Change(actor: "ana"))
        let h = try registry.history("digits", alias: nil)
        XCTAssertEqual(h.map(\.action), [.push, .delete])
        XCTAssertEqual(h.map(\.actor), ["ana", "ana"])
    }

    /// `RegistryEvent.to` is documented as "the version it points at after (or the pushed/deleted
    /// version)": a delete event names the deleted version in `to`, as a push event does.
    func testDeleteEventNamesTheDeletedVersionInFrom() throws {
        try push("digits", TestModels.bytes(producer: "a"))
        try push("digits", TestModels.bytes(producer: "b"))
        let e = try registry.deleteVersion("digits", 2, change: Change(actor: "ana", reason: "bad"))
        XCTAssertEqual(e.action, .delete)
        XCTAssertEqual(e.model, "digits")
        XCTAssertEqual(e.from, 2)
        XCTAssertNil(e.to)
        XCTAssertEqual(try registry.history("digits", alias: nil).last?.from, 2)
    }
}
