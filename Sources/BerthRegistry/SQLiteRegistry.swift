import BerthGate
import Foundation
import GRDB

/// The registry in an embedded SQLite database (WAL mode, so the server and CLI commands can
/// use one data directory at once) beside a content-addressed ``ArtifactStore``.
public final class SQLiteRegistry: Registry, @unchecked Sendable {
    // @unchecked: DatabasePool is thread-safe; the other stored properties are immutable.
    public let store: any ArtifactStorage
    /// The data directory holding the database file (and the artifact store).
    let dataDirectory: URL
    let pool: DatabasePool

    /// The database file inside a data directory.
    public static let databaseFileName = "registry.sqlite"

    /// Opens (creating and migrating as needed) the registry in `dataDirectory`, then removes
    /// what a killed writer left behind: temporary files, and artifacts no version references.
    public init(dataDirectory: URL, cipher: ArtifactCipher? = nil) throws {
        let files = try ArtifactStore(root: dataDirectory, cipher: cipher)
        store = files
        self.dataDirectory = files.root
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in
            // Durable commits: a push that returned survives a power loss, not only a crash.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: self.dataDirectory.appendingPathComponent(Self.databaseFileName).path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw RegistryError.storage("cannot open the registry database in \(self.dataDirectory.path): \(error)")
        }
        try collectGarbage()
    }

    /// Removes abandoned temporary files and unreferenced artifacts. Runs inside a write
    /// transaction: pushes move files into the store while holding the same lock, so an artifact
    /// of a push still in progress is never taken for an orphan.
    func collectGarbage() throws {
        store.removeAbandonedTemporaries()
        try write { db in
            let referenced = Set(try String.fetchAll(db, sql: "SELECT DISTINCT sha256 FROM version"))
            for sha in store.storedDigests().subtracting(referenced) { store.remove(sha256: sha) }
        }
    }

    // MARK: Transactions

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch { throw Self.wrap(error) }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch { throw Self.wrap(error) }
    }

    static func wrap(_ error: Error) -> Error {
        if error is RegistryError { return error }
        return RegistryError.storage("\(error)")
    }

    // MARK: The registry's rules (RegistryCore)

    /// Push, aliases, promotions, rollbacks, deletion, traffic and signatures, shared with PostgreSQL.
    var core: RegistryCore { RegistryCore(store: store, db: SQLiteTransactions(pool: pool)) }

    public func push(_ staged: StagedArtifact, _ request: PushRequest) throws -> VersionRecord { try core.push(staged, request) }
    public func models() throws -> [ModelRecord] { try core.models() }
    public func model(_ name: String) throws -> ModelRecord { try core.model(name) }
    public func versions(of model: String) throws -> [VersionRecord] { try core.versions(of: model) }
    public func version(_ model: String, _ ref: VersionRef) throws -> VersionRecord { try core.version(model, ref) }
    public func history(_ model: String, alias: String?) throws -> [RegistryEvent] { try core.history(model, alias: alias) }
    public func traffic(_ model: String) throws -> TrafficPolicy { try core.traffic(model) }
    public func deployments() throws -> [Deployment] { try core.deployments() }

    public func revision() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT value FROM revision WHERE id = 1") ?? 0 }
    }

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

    // MARK: JSON columns

    static func json<T: Encodable>(_ value: T) throws -> String { try RegistryCore.json(value) }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try RegistryCore.decode(type, text) }
}
