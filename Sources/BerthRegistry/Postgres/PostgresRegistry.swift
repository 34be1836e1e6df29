import BerthGate
import Foundation
import Logging
import PostgresNIO

/// The registry in a PostgreSQL database shared by every replica, beside a shared
/// content-addressed ``ArtifactStore`` (`--data-dir` on a shared file system). The same tables,
/// migrations and rules as ``SQLiteRegistry``: writes run one at a time (a transaction-level
/// advisory lock, so two replicas pushing at once get distinct version numbers), the history is
/// append-only (a trigger), and every change bumps the revision and NOTIFYs it.
public final class PostgresRegistry: CoreBackedRegistry, Registry, @unchecked Sendable {
    // @unchecked: the pool is thread-safe; the other stored properties are immutable.
    let pool: PostgresPool
    /// The last revision read, the auth cache's stamp while the database is unreachable.
    let lastStamp = Guarded<Int64?>(nil)
    /// The LISTEN connection and leadership (see ``ClusterCoordinator``).
    let watch = Guarded(WatchState())
    /// The database's address (without its password).
    public var url: PostgresURL { pool.url }

    /// Connects to `url` with the artifacts in `dataDirectory` (shared by the replicas).
    public convenience init(url: PostgresURL, dataDirectory: URL, cipher: ArtifactCipher? = nil, migrate: Bool = true,
                            logger: Logger = Logger(label: "berth.registry.postgres")) throws {
        try self.init(url: url, store: try ArtifactStore(root: dataDirectory, cipher: cipher), migrate: migrate, logger: logger)
    }

    /// Connects to `url`; with `migrate` (the default), applies pending migrations, then removes
    /// what a killed writer left in the shared store: temporary files of dead processes, and
    /// artifacts no version references. Without it, only connects (`berth registry migrate`).
    /// Fails with ``RegistryError/unavailable(_:)`` when the database cannot be reached.
    public init(url: PostgresURL, store: any ArtifactStorage, migrate: Bool = true,
                logger: Logger = Logger(label: "berth.registry.postgres")) throws {
        pool = PostgresPool(url: url, logger: logger)
        super.init(store: store, core: RegistryCore(store: store, db: PostgresTransactions(pool: pool), bumpsRevisionOnAccessChanges: true))
        if migrate {
            try self.migrate()
            try collectGarbage()
        }
    }

    /// Closes the connections (also done when the registry is released).
    deinit { stopWatching() }

    public func close() {
        stopWatching()
        pool.shutdown()
    }

    /// The migrations applied to the database, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.withConnection { s in
            try s.query("SELECT id FROM schema_migrations ORDER BY applied_at, id").map { try $0.get("id", as: String.self) }
        }
    }

    /// Runs the pending migrations (what `berth registry migrate` does); returns those it applied.
    @discardableResult
    public func runMigrations() throws -> [String] { try migrate() }

    /// Removes abandoned temporaries and unreferenced artifacts under the write lock (pushes move
    /// their file into the store while holding it, so a push in progress is never collected).
    func collectGarbage() throws {
        store.removeAbandonedTemporaries()
        try write { s in
            let referenced = Set(try s.query("SELECT DISTINCT sha256 FROM version").map { try $0.get("sha256", as: String.self) })
            for sha in store.storedDigests().subtracting(referenced) { store.remove(sha256: sha) }
        }
    }

    // MARK: Transactions

    func read<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        try pool.transaction(write: false, body)
    }

    func write<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        try pool.transaction(write: true, body)
    }

    public func revision() throws -> Int64 {
        let r = try pool.withConnection { s in try s.scalar(Int64.self, "SELECT value FROM revision WHERE id = 1") ?? 0 }
        noteRevision(r)
        return r
    }

    /// Remembers the newest revision seen (read, or announced by NOTIFY): the auth cache's stamp.
    func noteRevision(_ r: Int64) {
        lastStamp.withLock { $0 = max($0 ?? r, r) }
    }
}
