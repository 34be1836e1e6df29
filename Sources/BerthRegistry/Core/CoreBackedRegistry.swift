import BerthGate
import Foundation

/// What ``SQLiteRegistry`` and ``PostgresRegistry`` share: the registry's rules and the access
/// store's records both live in ``RegistryCore``, so each backend only opens its database and
/// says how a transaction runs; these methods hand every call to the core.
public class CoreBackedRegistry: @unchecked Sendable {
    // @unchecked: the core's transactions are thread-safe; the stored properties are immutable.
    public let store: any ArtifactStorage
    /// Push, aliases, promotions, rollbacks, deletion, traffic, signatures, keys and quotas.
    let core: RegistryCore

    init(store: any ArtifactStorage, core: RegistryCore) {
        self.store = store
        self.core = core
    }

    // MARK: Registry

    public func push(_ staged: StagedArtifact, _ request: PushRequest) throws -> VersionRecord { try core.push(staged, request) }
    public func models() throws -> [ModelRecord] { try core.models() }
    public func model(_ name: String) throws -> ModelRecord { try core.model(name) }
    public func versions(of model: String) throws -> [VersionRecord] { try core.versions(of: model) }
    public func version(_ model: String, _ ref: VersionRef) throws -> VersionRecord { try core.version(model, ref) }
    public func history(_ model: String, alias: String?) throws -> [RegistryEvent] { try core.history(model, alias: alias) }
    public func traffic(_ model: String) throws -> TrafficPolicy { try core.traffic(model) }
    public func deployments() throws -> [Deployment] { try core.deployments() }

    @discardableResult
    public func setAlias(_ model: String, _ alias: String, version: Int, change: Change) throws -> RegistryEvent {
        try core.setAlias(model, alias, version: version, change: change)
    }

    @discardableResult
    public func removeAlias(_ model: String, _ alias: String, change: Change) throws -> RegistryEvent {
        try core.removeAlias(model, alias, change: change)
    }

    public func checkPromotion(_ model: String, version: Int, gates: [Gate], alias: String) throws {
        try core.checkPromotion(model, version: version, gates: gates, alias: alias)
    }

    @discardableResult
    public func promote(_ model: String, version: Int, gates: [Gate], alias: String, change: Change) throws -> RegistryEvent {
        try core.promote(model, version: version, gates: gates, alias: alias, change: change)
    }

    public func rollbackTarget(_ model: String, alias: String) throws -> Int { try core.rollbackTarget(model, alias: alias) }

    @discardableResult
    public func rollback(_ model: String, alias: String, change: Change) throws -> RegistryEvent {
        try core.rollback(model, alias: alias, change: change)
    }

    @discardableResult
    public func deleteVersion(_ model: String, _ version: Int, change: Change) throws -> RegistryEvent {
        try core.deleteVersion(model, version, change: change)
    }

    @discardableResult
    public func setTraffic(_ model: String, _ policy: TrafficPolicy, change: Change) throws -> TrafficPolicy {
        try core.setTraffic(model, policy, change: change)
    }

    public func setArtifactSignature(_ model: String, _ version: Int, _ signature: ArtifactSignature, change: Change) throws -> VersionRecord {
        try core.setArtifactSignature(model, version, signature, change: change)
    }

    // MARK: AccessStore (each backend adds its own change stamp)

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
}
