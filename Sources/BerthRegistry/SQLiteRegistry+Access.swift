import Foundation
import GRDB

/// Keys, quotas, ownership and the audit log in the registry database (migration v3).
extension SQLiteRegistry: AccessStore {
    public func createKey(tenant: String, role: Role, models: ModelPattern, description: String, expiresAt: Date?) throws
        -> (record: APIKeyRecord, secret: APIKeySecret) {
        try Names.checkTenant(tenant)
        let secret = APIKeySecret.generate()
        let record = APIKeyRecord(id: secret.id, tenant: tenant, role: role, models: models, description: description,
                                  createdAt: Date(), expiresAt: expiresAt, revokedAt: nil)
        try write { db in
            try db.execute(sql: """
                INSERT INTO api_key (id, hash, tenant, role, models, description, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.id, secret.hash, tenant, role.rawValue, models.description, description,
                                 record.createdAt.timeIntervalSince1970, expiresAt?.timeIntervalSince1970])
        }
        return (record, secret)
    }

    public func keys() throws -> [APIKeyRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM api_key ORDER BY created_at, id").map(Self.keyRecord) }
    }

    public func key(for secret: APIKeySecret) throws -> APIKeyRecord? {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM api_key WHERE id = ?", arguments: [secret.id]) else { return nil }
            // Compared in constant time: the hash is not secret, but nothing should be learnt from timing.
            let stored = Array((row["hash"] as String).utf8), given = Array(secret.hash.utf8)
            guard stored.count == given.count, zip(stored, given).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
            return try Self.keyRecord(row)
        }
    }

    public func revokeKey(id: String) throws -> APIKeyRecord {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM api_key WHERE id = ?", arguments: [id]) else {
                throw RegistryError.badInput("no key has the id '\(id)' (berth keys list shows them)")
            }
            if (row["revoked_at"] as Double?) == nil {
                try db.execute(sql: "UPDATE api_key SET revoked_at = ? WHERE id = ?", arguments: [Date().timeIntervalSince1970, id])
            }
            return try Self.keyRecord(try Row.fetchOne(db, sql: "SELECT * FROM api_key WHERE id = ?", arguments: [id])!)
        }
    }

    public func hasUsableKeys() throws -> Bool {
        try read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM api_key WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?))",
                              arguments: [Date().timeIntervalSince1970]) ?? false
        }
    }

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

    public func setQuota(_ q: TenantQuota) throws {
        try Names.checkTenant(q.tenant)
        for (name, v) in [("requests per second", q.requestsPerSecond), ("rows per second", q.rowsPerSecond)] {
            if let v, !(v.isFinite && v >= 0.001) { throw RegistryError.badInput("\(name) must be a number ≥ 0.001, got \(v)") }
        }
        if let c = q.maxConcurrent, c <= 0 { throw RegistryError.badInput("max concurrent must be positive, got \(c)") }
        guard q.weight.isFinite, q.weight > 0 else { throw RegistryError.badInput("weight must be positive, got \(q.weight)") }
        if q.model != "*" { try Names.checkModel(q.model) }
        try write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO tenant_quota (tenant, model, requests_per_second, rows_per_second, max_concurrent, weight)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [q.tenant, q.model, q.requestsPerSecond, q.rowsPerSecond, q.maxConcurrent, q.weight])
        }
    }

    public func removeQuota(tenant: String, model: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM tenant_quota WHERE tenant = ? AND model = ?", arguments: [tenant, model])
            guard db.changesCount > 0 else { throw RegistryError.badInput("tenant '\(tenant)' has no quota on '\(model)'") }
        }
    }

    public func quotas() throws -> [TenantQuota] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tenant_quota ORDER BY tenant, model").map { r in
                TenantQuota(tenant: r["tenant"], model: r["model"], requestsPerSecond: r["requests_per_second"],
                            rowsPerSecond: r["rows_per_second"], maxConcurrent: r["max_concurrent"], weight: r["weight"])
            }
        }
    }

    public func owners() throws -> ModelOwners {
        try read { db in
            var out = ModelOwners()
            for r in try Row.fetchAll(db, sql: "SELECT name, tenant FROM model") {
                if let t: String = r["tenant"] { out.owned[r["name"]] = t } else { out.unowned.insert(r["name"]) }
            }
            return out
        }
    }

    public func setOwner(model: String, tenant: String) throws {
        try Names.checkTenant(tenant)
        try write { db in
            try db.execute(sql: "UPDATE model SET tenant = ? WHERE name = ?", arguments: [tenant, model])
            guard db.changesCount > 0 else { throw RegistryError.modelNotFound(model) }
            try db.execute(sql: "UPDATE revision SET value = value + 1 WHERE id = 1")
        }
    }

    public func audit(_ e: AuditEntry) throws {
        try write { db in
            try db.execute(sql: """
                INSERT INTO audit (at, key_id, tenant, role, action, target, status, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [e.at.timeIntervalSince1970, e.keyID, e.tenant, e.role?.rawValue, e.action, e.target, e.status, e.source])
        }
    }

    public func auditLog(since: Date?, limit: Int) throws -> [AuditEntry] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE at >= ? ORDER BY id DESC LIMIT ?",
                                        arguments: [since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude, max(0, limit)])
            return rows.reversed().map { r in
                AuditEntry(at: Date(timeIntervalSince1970: r["at"]), keyID: r["key_id"], tenant: r["tenant"],
                           role: (r["role"] as String?).flatMap(Role.init(rawValue:)), action: r["action"], target: r["target"],
                           status: r["status"], source: r["source"])
            }
        }
    }

    static func keyRecord(_ r: Row) throws -> APIKeyRecord {
        guard let role = Role(rawValue: r["role"]) else { throw RegistryError.storage("key \(r["id"] as String) has an unknown role") }
        return APIKeyRecord(id: r["id"], tenant: r["tenant"], role: role, models: try ModelPattern(r["models"]),
                            description: r["description"], createdAt: Date(timeIntervalSince1970: r["created_at"]),
                            expiresAt: (r["expires_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                            revokedAt: (r["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }
}
