@testable import BerthRegistry
import Foundation
import XCTest

/// Keys, quotas, ownership and the audit log, on both backends (see ``RegistryTestCase``).
final class AccessStoreTests: RegistryTestCase {
    func testKeyLifecycleAndLookup() throws {
        let (record, secret) = try registry.createKey(tenant: "acme", role: .deployer, models: try ModelPattern("digits"),
                                                      description: "ci", expiresAt: nil)
        XCTAssertTrue(try registry.hasUsableKeys())
        XCTAssertEqual(try registry.keys().map(\.id), [record.id])
        let found = try XCTUnwrap(try registry.key(for: secret))
        XCTAssertEqual(found.tenant, "acme")
        XCTAssertEqual(found.role, .deployer)
        XCTAssertEqual(found.models.description, "digits")
        // A secret with the right id but another body is no key.
        let forged = try XCTUnwrap(APIKeySecret(parsing: "brt_\(secret.id)_" + String(repeating: "a", count: 64)))
        XCTAssertNil(try registry.key(for: forged))
        let revoked = try registry.revokeKey(id: record.id)
        XCTAssertNotNil(revoked.revokedAt)
        XCTAssertFalse(try registry.hasUsableKeys())
        XCTAssertNotNil(try registry.key(for: secret)?.revokedAt)
        XCTAssertThrowsError(try registry.revokeKey(id: "nope"))
    }

    /// The auth cache's stamp changes with every key change made by another process.
    func testChangeStampFollowsKeyChangesFromAnotherProcess() throws {
        let before = try XCTUnwrap(registry.changeStamp())
        let other = try openRegistry()
        let (record, _) = try other.createKey(tenant: "acme", role: .viewer, models: try ModelPattern("*"), description: "", expiresAt: nil)
        let afterCreate = try XCTUnwrap(registry.changeStamp())
        XCTAssertNotEqual(afterCreate, before)
        _ = try other.revokeKey(id: record.id)
        XCTAssertNotEqual(try XCTUnwrap(registry.changeStamp()), afterCreate)
        (other as? PostgresRegistry)?.close()
    }

    func testQuotasOwnersAndAudit() throws {
        try registry.setQuota(TenantQuota(tenant: "acme", model: "*", requestsPerSecond: 5, maxConcurrent: 2))
        try registry.setQuota(TenantQuota(tenant: "acme", model: "*", requestsPerSecond: 7))
        try registry.setQuota(TenantQuota(tenant: "beta", model: "digits", rowsPerSecond: 100, weight: 2))
        XCTAssertEqual(try registry.quotas(), [TenantQuota(tenant: "acme", model: "*", requestsPerSecond: 7),
                                               TenantQuota(tenant: "beta", model: "digits", rowsPerSecond: 100, weight: 2)])
        try registry.removeQuota(tenant: "acme", model: "*")
        XCTAssertThrowsError(try registry.removeQuota(tenant: "acme", model: "*"))
        XCTAssertEqual(try registry.quotas().map(\.tenant), ["beta"])

        try push("digits")
        XCTAssertEqual(try registry.owners(), ModelOwners(owned: [:], unowned: ["digits"]))
        try registry.setOwner(model: "digits", tenant: "acme")
        XCTAssertEqual(try registry.owners(), ModelOwners(owned: ["digits": "acme"], unowned: []))
        XCTAssertThrowsError(try registry.setOwner(model: "nope", tenant: "acme"))

        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        for i in 0..<3 {
            try registry.audit(AuditEntry(at: t0.addingTimeInterval(Double(i)), keyID: "k\(i)", tenant: "acme", role: .admin,
                                          action: "POST /api/v1/models/{name}/promote", target: "digits", status: 200 + i, source: "127.0.0.1"))
        }
        XCTAssertEqual(try registry.auditLog(since: nil, limit: 10).map(\.status), [200, 201, 202])
        XCTAssertEqual(try registry.auditLog(since: nil, limit: 2).map(\.keyID), ["k1", "k2"], "the newest, oldest first")
        XCTAssertEqual(try registry.auditLog(since: t0.addingTimeInterval(1.5), limit: 10).map(\.keyID), ["k2"])
        XCTAssertThrowsError(try rawExecute("DELETE FROM audit")) { XCTAssertTrue("\($0)".contains("append-only"), "\($0)") }
        XCTAssertEqual(try rawInt("SELECT COUNT(*) FROM audit"), 3)
    }

    /// Two registries (two replicas) pushing at once: every push gets its own version number,
    /// 1…N without gaps, and the history records each once.
    func testConcurrentPushesFromTwoProcessesGetDistinctVersions() throws {
        let other = try openRegistry()
        defer { (other as? PostgresRegistry)?.close() }
        let perWriter = 6
        let inputs = try (0..<(2 * perWriter)).map { try inputFile(TestModels.bytes(producer: "p\($0)")) }
        let registries: [any RegistryStore] = [registry, other]
        let errors = Guarded<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2 * perWriter) { i in
            do {
                _ = try registries[i % 2].push(file: inputs[i], PushRequest(model: "digits", actor: "w\(i % 2)"))
            } catch { errors.withLock { $0.append("\(error)") } }
        }
        XCTAssertEqual(errors.withLock { $0 }, [])
        XCTAssertEqual(try registry.versions(of: "digits").map(\.version), Array(1...(2 * perWriter)))
        XCTAssertEqual(Set(try registry.versions(of: "digits").map(\.sha256)).count, 2 * perWriter)
        XCTAssertEqual(try registry.history("digits", alias: nil).filter { $0.action == .push }.count, 2 * perWriter)
    }
}
