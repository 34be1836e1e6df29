import Foundation

/// Keys, quotas, ownership and the audit log's reads, the same in both databases (see
/// ``AccessStore``). What differs stays with the backends: the auth cache's change stamp, and how
/// an audit entry is appended.
extension RegistryCore {
    func createKey(tenant: String, role: Role, models: ModelPattern, description: String, expiresAt: Date?) throws
        -> (record: APIKeyRecord, secret: APIKeySecret) {
        try Names.checkTenant(tenant)
        let secret = APIKeySecret.generate()
        let record = APIKeyRecord(id: secret.id, tenant: tenant, role: role, models: models, description: description,
                                  createdAt: Date(), expiresAt: expiresAt, revokedAt: nil)
        try db.write { s in
            try s.execute("""
                INSERT INTO api_key (id, hash, tenant, role, models, description, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [record.id, secret.hash, tenant, role.rawValue, models.description, description,
                      record.createdAt.timeIntervalSince1970, expiresAt?.timeIntervalSince1970])
            try accessChanged(s)
        }
        return (record, secret)
    }

    func keys() throws -> [APIKeyRecord] {
        try db.read { s in try s.rows("SELECT * FROM api_key ORDER BY created_at, id", []).map(Self.keyRecord) }
    }

    func key(for secret: APIKeySecret) throws -> APIKeyRecord? {
        try db.read { s in
            guard let row = try s.row("SELECT * FROM api_key WHERE id = ?", [secret.id]) else { return nil }
            // Compared in constant time: the hash is not secret, but nothing should be learnt from timing.
            let stored = Array(try row.string("hash").utf8), given = Array(secret.hash.utf8)
            guard stored.count == given.count, zip(stored, given).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
            return try Self.keyRecord(row)
        }
    }

    func revokeKey(id: String) throws -> APIKeyRecord {
        try db.write { s in
            guard let row = try s.row("SELECT * FROM api_key WHERE id = ?", [id]) else {
                throw RegistryError.badInput("no key has the id '\(id)' (berth keys list shows them)")
            }
            if try row.optionalDouble("revoked_at") == nil {
                try s.execute("UPDATE api_key SET revoked_at = ? WHERE id = ?", [Date().timeIntervalSince1970, id])
                try accessChanged(s)
            }
            guard let now = try s.row("SELECT * FROM api_key WHERE id = ?", [id]) else { throw RegistryError.storage("key \(id) vanished") }
            return try Self.keyRecord(now)
        }
    }

    func hasUsableKeys() throws -> Bool {
        try db.read { s in
            try s.int("SELECT COUNT(*) AS usable FROM api_key WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
                      [Date().timeIntervalSince1970]) ?? 0 > 0
        }
    }

    func setQuota(_ q: TenantQuota) throws {
        try Names.checkTenant(q.tenant)
        for (name, v) in [("requests per second", q.requestsPerSecond), ("rows per second", q.rowsPerSecond)] {
            if let v, !(v.isFinite && v >= 0.001) { throw RegistryError.badInput("\(name) must be a number ≥ 0.001, got \(v)") }
        }
        if let c = q.maxConcurrent, c <= 0 { throw RegistryError.badInput("max concurrent must be positive, got \(c)") }
        guard q.weight.isFinite, q.weight > 0 else { throw RegistryError.badInput("weight must be positive, got \(q.weight)") }
        if q.model != "*" { try Names.checkModel(q.model) }
        try db.write { s in
            try s.execute("""
                INSERT INTO tenant_quota (tenant, model, requests_per_second, rows_per_second, max_concurrent, weight)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (tenant, model) DO UPDATE SET requests_per_second = excluded.requests_per_second,
                    rows_per_second = excluded.rows_per_second, max_concurrent = excluded.max_concurrent, weight = excluded.weight
                """, [q.tenant, q.model, q.requestsPerSecond, q.rowsPerSecond, q.maxConcurrent, q.weight])
            try accessChanged(s)
        }
    }

    func removeQuota(tenant: String, model: String) throws {
        try db.write { s in
            guard try s.execute("DELETE FROM tenant_quota WHERE tenant = ? AND model = ?", [tenant, model]) > 0 else {
                throw RegistryError.badInput("tenant '\(tenant)' has no quota on '\(model)'")
            }
            try accessChanged(s)
        }
    }

    func quotas() throws -> [TenantQuota] {
        try db.read { s in
            try s.rows("SELECT * FROM tenant_quota ORDER BY tenant, model", []).map { r in
                TenantQuota(tenant: try r.string("tenant"), model: try r.string("model"),
                            requestsPerSecond: try r.optionalDouble("requests_per_second"),
                            rowsPerSecond: try r.optionalDouble("rows_per_second"), maxConcurrent: try r.optionalInt("max_concurrent"),
                            weight: try r.double("weight"))
            }
        }
    }

    func owners() throws -> ModelOwners {
        try db.read { s in
            var out = ModelOwners()
            for r in try s.rows("SELECT name, tenant FROM model", []) {
                let name = try r.string("name")
                if let t = try r.optionalString("tenant") { out.owned[name] = t } else { out.unowned.insert(name) }
            }
            return out
        }
    }

    func setOwner(model: String, tenant: String) throws {
        try Names.checkTenant(tenant)
        try db.write { s in
            guard try s.execute("UPDATE model SET tenant = ? WHERE name = ?", [tenant, model]) > 0 else { throw RegistryError.modelNotFound(model) }
            // Ownership decides what a tenant sees of the registry: servers re-read it.
            try s.execute("UPDATE revision SET value = value + 1 WHERE id = 1", [])
        }
    }

    func auditLog(since: Date?, limit: Int) throws -> [AuditEntry] {
        try db.read { s in
            let rows = try s.rows("SELECT * FROM audit WHERE at >= ? ORDER BY id DESC LIMIT ?",
                                  [since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude, max(0, limit)])
            return try rows.reversed().map { r in
                AuditEntry(at: Date(timeIntervalSince1970: try r.double("at")), keyID: try r.optionalString("key_id"),
                           tenant: try r.optionalString("tenant"), role: try r.optionalString("role").flatMap(Role.init(rawValue:)),
                           action: try r.string("action"), target: try r.optionalString("target"), status: try r.int("status"),
                           source: try r.string("source"))
            }
        }
    }

    /// The statement that appends `e` to the audit log.
    static let auditInsert = "INSERT INTO audit (at, key_id, tenant, role, action, target, status, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

    /// `e`'s values for ``auditInsert``.
    static func auditArguments(_ e: AuditEntry) -> [any SQLArgument] {
        [e.at.timeIntervalSince1970, e.keyID, e.tenant, e.role?.rawValue, e.action, e.target, e.status, e.source]
    }

    private func accessChanged(_ s: any RegistrySQL) throws {
        if bumpsRevisionOnAccessChanges { try s.execute("UPDATE revision SET value = value + 1 WHERE id = 1", []) }
    }

    static func keyRecord(_ r: SQLRow) throws -> APIKeyRecord {
        let id = try r.string("id")
        guard let role = Role(rawValue: try r.string("role")) else { throw RegistryError.storage("key \(id) has an unknown role") }
        return APIKeyRecord(id: id, tenant: try r.string("tenant"), role: role, models: try ModelPattern(try r.string("models")),
                            description: try r.string("description"), createdAt: Date(timeIntervalSince1970: try r.double("created_at")),
                            expiresAt: try r.optionalDouble("expires_at").map(Date.init(timeIntervalSince1970:)),
                            revokedAt: try r.optionalDouble("revoked_at").map(Date.init(timeIntervalSince1970:)))
    }
}
