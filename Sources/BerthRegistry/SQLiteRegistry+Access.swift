import Foundation
import GRDB

/// Keys, quotas, ownership and the audit log in the registry database (migration v3).
extension SQLiteRegistry: AccessStore {
    public func createKey(tenant: String, role: Role, models: ModelPattern, description: String, expiresAt: Date?) throws
        -> (record: APIKeyRecord, secret: APIKeySecret) {
        try core.createKey(tenant: tenant, role: role, models: models, description: description, expiresAt: expiresAt)
    }

    public func keys() throws -> [APIKeyRecord] { try core.keys() }
    public func key(for secret: APIKeySecret) throws -> APIKeyRecord? { try core.key(for: secret) }
    public func revokeKey(id: String) throws -> APIKeyRecord { try core.revokeKey(id: id) }
    public func hasUsableKeys() throws -> Bool { try core.hasUsableKeys() }
    public func setQuota(_ q: TenantQuota) throws { try core.setQuota(q) }
    public func removeQuota(tenant: String, model: String) throws { try core.removeQuota(tenant: tenant, model: model) }
    public func quotas() throws -> [TenantQuota] { try core.quotas() }
    public func owners() throws -> ModelOwners { try core.owners() }
    public func setOwner(model: String, tenant: String) throws { try core.setOwner(model: model, tenant: tenant) }
    public func auditLog(since: Date?, limit: Int) throws -> [AuditEntry] { try core.auditLog(since: since, limit: limit) }

    /// The database file's and its write-ahead log's size and modification time (nanoseconds):
    /// every commit, by any process, appends to the WAL (or, at a checkpoint, rewrites the
    /// database), so an unchanged stamp means no key was created, revoked or changed.
    public func changeStamp() -> [Int64]? {
        let db = dataDirectory.appendingPathComponent(Self.databaseFileName).path
        var out: [Int64] = []
        for path in [db, db + "-wal"] {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            out += [Int64(st.st_size), Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec), Int64(st.st_ino)]
        }
        return out
    }

    public func audit(_ e: AuditEntry) throws {
        _ = try write { db in try SQLiteStatements(db: db).execute(RegistryCore.auditInsert, RegistryCore.auditArguments(e)) }
    }
}
