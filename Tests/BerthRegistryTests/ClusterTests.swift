@testable import BerthRegistry
import Foundation
import XCTest

/// Membership, change notifications and leadership: PostgreSQL only (an SQLite registry is not
/// shared between machines); skipped, saying why, without `BERTH_TEST_POSTGRES_URL`.
final class ClusterTests: RegistryTestCase {
    private var coordinator: (any ClusterCoordinator)? { registry as? any ClusterCoordinator }

    override func setUpWithError() throws {
        try XCTSkipIf(backend == .sqlite, "PostgreSQL-only: BERTH_TEST_POSTGRES_URL is not set (scripts/postgres.sh start prints one)")
        try super.setUpWithError()
    }

    func testHeartbeatsListLiveReplicas() throws {
        guard let coordinator else { return }
        let now = Date()
        let a = ReplicaRecord(id: "a", address: "10.0.0.1:8000", startedAt: now, heartbeatAt: now, revision: 3, loaded: ["digits:1"])
        let stale = ReplicaRecord(id: "b", address: "10.0.0.2:8000", startedAt: now, heartbeatAt: now.addingTimeInterval(-60),
                                  revision: 1, loaded: [])
        try coordinator.heartbeat(a)
        try coordinator.heartbeat(stale)
        XCTAssertEqual(try coordinator.liveReplicas(window: 10).map(\.id), ["a"])
        var moved = a
        moved.loaded = ["digits:1", "digits:2"]
        moved.revision = 4
        try coordinator.heartbeat(moved)
        let listed = try XCTUnwrap(try coordinator.liveReplicas(window: 10).first)
        XCTAssertEqual(listed.loaded, ["digits:1", "digits:2"])
        XCTAssertEqual(listed.revision, 4)
        XCTAssertEqual(listed.heartbeatAt.timeIntervalSince1970, now.timeIntervalSince1970, accuracy: 1e-3)
        try coordinator.removeReplica(id: "a")
        XCTAssertEqual(try coordinator.liveReplicas(window: 3600).map(\.id), ["b"])
    }

    /// A change committed by another process reaches a watcher through NOTIFY.
    func testChangesByAnotherProcessAreNotified() throws {
        guard let coordinator else { return }
        let woke = expectation(description: "notified")
        woke.assertForOverFulfill = false
        let armed = Guarded(false)
        try coordinator.watchChanges { if armed.withLock({ $0 }) { woke.fulfill() } }
        armed.withLock { $0 = true }
        let other = try openRegistry()
        defer { (other as? PostgresRegistry)?.close() }
        try other.push(file: try inputFile(TestModels.bytes()), PushRequest(model: "digits", actor: "ana"))
        wait(for: [woke], timeout: 5)
    }

    /// One leader at a time; when it goes, another process takes over.
    func testOneLeaderAtATime() throws {
        guard let coordinator else { return }
        let other = try XCTUnwrap(try openRegistry() as? PostgresRegistry)
        try coordinator.watchChanges {}
        try other.watchChanges {}
        let first = coordinator.isLeader(), second = other.isLeader()
        XCTAssertNotEqual(first, second, "exactly one leads")
        XCTAssertTrue(first, "the first to ask leads")
        XCTAssertTrue(coordinator.isLeader(), "leadership is kept")
        XCTAssertFalse(other.isLeader())
        (registry as? PostgresRegistry)?.close()
        // The server ends the closed session's backend (and frees its lock) a moment after the client closed it.
        let deadline = Date().addingTimeInterval(5)
        var took = other.isLeader()
        while !took && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            took = other.isLeader()
        }
        XCTAssertTrue(took, "the lock is released with the leader's connection")
        other.close()
    }
}
