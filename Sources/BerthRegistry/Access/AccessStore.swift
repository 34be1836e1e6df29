import Foundation

/// Keys, tenants' quotas, model ownership and the audit log: what the server's access control
/// reads and `berth keys` / `berth tenants` write. Kept in the registry database, so every process
/// on a data directory (and, with a shared database, every replica) sees the same.
public protocol AccessStore: Sendable {
    /// Stores a new key and returns its record and the secret (shown once, never stored).
    func createKey(tenant: String, role: Role, models: ModelPattern, description: String, expiresAt: Date?) throws
        -> (record: APIKeyRecord, secret: APIKeySecret)
    /// Every key, oldest first.
    func keys() throws -> [APIKeyRecord]
    /// The key `secret` names, if it exists and its hash matches (whatever its state).
    func key(for secret: APIKeySecret) throws -> APIKeyRecord?
    /// Revokes a key at once; throws when no key has this id.
    func revokeKey(id: String) throws -> APIKeyRecord
    /// Whether any usable key exists (a server without one tells how to create the first).
    func hasUsableKeys() throws -> Bool

    /// Sets (replaces) a tenant's limits on one model or on all (`*`).
    func setQuota(_ quota: TenantQuota) throws
    /// Removes a limit; throws when there is none.
    func removeQuota(tenant: String, model: String) throws
    /// Every limit.
    func quotas() throws -> [TenantQuota]

    /// Who owns each registry model.
    func owners() throws -> ModelOwners
    /// Makes `tenant` the owner of `model` (admin only).
    func setOwner(model: String, tenant: String) throws

    /// A value that changes whenever any process commits to the store (nil: unknown, so callers
    /// must not cache). Cheap: callers compare it on every request to keep key lookups cached.
    func changeStamp() -> [Int64]?

    /// Appends to the audit log.
    func audit(_ entry: AuditEntry) throws
    /// The log, oldest first, since `since` (all when nil), at most `limit` entries (the newest).
    func auditLog(since: Date?, limit: Int) throws -> [AuditEntry]
}

/// The registry's models by owner: a tenant's (pushed through the API with its key, or assigned),
/// or none (pushed by the CLI, on an open server, or before ownership existed).
public struct ModelOwners: Sendable, Equatable {
    /// Model → owning tenant.
    public var owned: [String: String]
    /// Models without an owner.
    public var unowned: Set<String>

    public init(owned: [String: String] = [:], unowned: Set<String> = []) {
        self.owned = owned
        self.unowned = unowned
    }
}

extension Names {
    /// Tenants are spelled like model names (they become metric labels).
    static func checkTenant(_ name: String) throws {
        do { try checkModel(name) } catch RegistryError.invalidName(_, _, let reason) {
            throw RegistryError.invalidName(kind: "tenant", name: name, reason: reason)
        }
    }
}

/// Checks a tenant name as the registry will (letters, digits, `_`, `-`, `.`).
public func checkTenantName(_ name: String) throws { try Names.checkTenant(name) }
