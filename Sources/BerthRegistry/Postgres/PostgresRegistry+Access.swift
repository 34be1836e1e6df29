import Foundation
import PostgresNIO

/// Keys, quotas, ownership and the audit log in the shared database, so that every replica
/// authenticates against the same keys. Changes to keys and quotas bump the revision, which is
/// the auth cache's change stamp here (SQLite's is the database file's stat).
extension PostgresRegistry: AccessStore {
    public func createKey(tenant: String, role: Role, models: ModelPattern, description: String, expiresAt: Date?) throws
        -> (record: APIKeyRecord, secret: APIKeySecret) {
        try Names.checkTenant(tenant)
        let secret = APIKeySecret.generate()
        let record = APIKeyRecord(id: secret.id, tenant: tenant, role: role, models: models, description: description,
                                  createdAt: Date(), expiresAt: expiresAt, revokedAt: nil)
        try write { s in
            try s.execute("""
                INSERT INTO api_key (id, hash, tenant, role, models, description, created_at, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """, [record.id, secret.hash, tenant, role.rawValue, models.description, description,
                      record.createdAt.timeIntervalSince1970, expiresAt?.timeIntervalSince1970])
            try bumpRevision(s)
        }
        return (record, secret)
    }

    public func keys() throws -> [APIKeyRecord] {
        try read { s in try s.query("SELECT * FROM api_key ORDER BY created_at, id").map(Self.keyRecord) }
    }

    public func key(for secret: APIKeySecret) throws -> APIKeyRecord? {
        try read { s in
            guard let row = try s.query("SELECT * FROM api_key WHERE id = $1", [secret.id]).first else { return nil }
            // Compared in constant time: the hash is not secret, but nothing should be learnt from timing.
            let stored = Array(try row.get("hash", as: String.self).utf8), given = Array(secret.hash.utf8)
            guard stored.count == given.count, zip(stored, given).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
            return try Self.keyRecord(row)
        }
    }

    public func revokeKey(id: String) throws -> APIKeyRecord {
        try write { s in
            guard let row = try s.query("SELECT * FROM api_key WHERE id = $1", [id]).first else {
                throw RegistryError.badInput("no key has the id '\(id)' (berth keys list shows them)")
            }
            if try row.get("revoked_at", as: Double?.self) == nil {
                try s.execute("UPDATE api_key SET revoked_at = $1 WHERE id = $2", [Date().timeIntervalSince1970, id])
                try bumpRevision(s)
            }
            return try Self.keyRecord(try s.query("SELECT * FROM api_key WHERE id = $1", [id])[0])
        }
    }

    public func hasUsableKeys() throws -> Bool {
        try read { s in
            try s.scalar(Bool.self, "SELECT EXISTS (SELECT 1 FROM api_key WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1))",
                         [Date().timeIntervalSince1970]) ?? false
        }
    }

    /// The revision. In a server that LISTENs (``watchChanges(_:)``), the newest one announced or
    /// polled, with no query: a key change anywhere reaches the cache within the notification's
    /// latency (and the next registry poll, a second, if a notification were lost). Otherwise one
    /// indexed read. While the database is unreachable, the last value seen: keys cached before
    /// the outage keep working, and the first read after it empties the cache if anything changed.
    public func changeStamp() -> [Int64]? {
        if watch.withLock({ $0.connection.map { !$0.isClosed } ?? false }), let last = lastStamp.withLock({ $0 }) {
            return [last]
        }
        if let r = try? revision() {
            return [r]
        }
        return lastStamp.withLock { $0 }.map { [$0] }
    }

    public func setQuota(_ q: TenantQuota) throws {
        try Names.checkTenant(q.tenant)
        for (name, v) in [("requests per second", q.requestsPerSecond), ("rows per second", q.rowsPerSecond)] {
            if let v, !(v.isFinite && v >= 0.001) { throw RegistryError.badInput("\(name) must be a number ≥ 0.001, got \(v)") }
        }
        if let c = q.maxConcurrent, c <= 0 { throw RegistryError.badInput("max concurrent must be positive, got \(c)") }
        guard q.weight.isFinite, q.weight > 0 else { throw RegistryError.badInput("weight must be positive, got \(q.weight)") }
        if q.model != "*" { try Names.checkModel(q.model) }
        try write { s in
            try s.execute("""
                INSERT INTO tenant_quota (tenant, model, requests_per_second, rows_per_second, max_concurrent, weight)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (tenant, model) DO UPDATE SET requests_per_second = EXCLUDED.requests_per_second,
                    rows_per_second = EXCLUDED.rows_per_second, max_concurrent = EXCLUDED.max_concurrent, weight = EXCLUDED.weight
                """, [q.tenant, q.model, q.requestsPerSecond, q.rowsPerSecond, q.maxConcurrent, q.weight])
            try bumpRevision(s)
        }
    }

    public func removeQuota(tenant: String, model: String) throws {
        try write { s in
            guard try s.execute("DELETE FROM tenant_quota WHERE tenant = $1 AND model = $2", [tenant, model]) > 0 else {
                throw RegistryError.badInput("tenant '\(tenant)' has no quota on '\(model)'")
            }
            try bumpRevision(s)
        }
    }

    public func quotas() throws -> [TenantQuota] {
        try read { s in
            try s.query("SELECT * FROM tenant_quota ORDER BY tenant, model").map { r in
                TenantQuota(tenant: try r.get("tenant"), model: try r.get("model"), requestsPerSecond: try r.get("requests_per_second"),
                            rowsPerSecond: try r.get("rows_per_second"), maxConcurrent: try r.get("max_concurrent"), weight: try r.get("weight"))
            }
        }
    }

    public func owners() throws -> ModelOwners {
        try read { s in
            var out = ModelOwners()
            for r in try s.query("SELECT name, tenant FROM model") {
                let name: String = try r.get("name")
                if let t = try r.get("tenant", as: String?.self) { out.owned[name] = t } else { out.unowned.insert(name) }
            }
            return out
        }
    }

    public func setOwner(model: String, tenant: String) throws {
        try Names.checkTenant(tenant)
        try write { s in
            guard try s.execute("UPDATE model SET tenant = $1 WHERE name = $2", [tenant, model]) > 0 else { throw RegistryError.modelNotFound(model) }
            try bumpRevision(s)
        }
    }

    public func audit(_ e: AuditEntry) throws {
        // Not under the write lock: appends do not depend on other rows.
        try pool.withConnection { s in
            try s.execute("""
                INSERT INTO audit (at, key_id, tenant, role, action, target, status, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """, [e.at.timeIntervalSince1970, e.keyID, e.tenant, e.role?.rawValue, e.action, e.target, e.status, e.source])
        }
    }

    public func auditLog(since: Date?, limit: Int) throws -> [AuditEntry] {
        try read { s in
            let rows = try s.query("SELECT * FROM audit WHERE at >= $1 ORDER BY id DESC LIMIT $2",
                                   [since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude, max(0, limit)])
            return try rows.reversed().map { r in
                AuditEntry(at: Date(timeIntervalSince1970: try r.get("at")), keyID: try r.get("key_id"), tenant: try r.get("tenant"),
                           role: try r.get("role", as: String?.self).flatMap(Role.init(rawValue:)), action: try r.get("action"),
                           target: try r.get("target"), status: try r.get("status"), source: try r.get("source"))
            }
        }
    }

    static func keyRecord(_ r: PostgresRandomAccessRow) throws -> APIKeyRecord {
        let id: String = try r.get("id")
        guard let role = Role(rawValue: try r.get("role")) else { throw RegistryError.storage("key \(id) has an unknown role") }
        return APIKeyRecord(id: id, tenant: try r.get("tenant"), role: role, models: try ModelPattern(try r.get("models")),
                            description: try r.get("description"), createdAt: Date(timeIntervalSince1970: try r.get("created_at")),
                            expiresAt: try r.get("expires_at", as: Double?.self).map(Date.init(timeIntervalSince1970:)),
                            revokedAt: try r.get("revoked_at", as: Double?.self).map(Date.init(timeIntervalSince1970:)))
    }
}
