import BerthGate
import Foundation
import GRDB

/// The registry in an embedded SQLite database (WAL mode, so the server and CLI commands can
/// use one data directory at once) beside a content-addressed ``ArtifactStore``.
public final class SQLiteRegistry: CoreBackedRegistry, Registry, @unchecked Sendable {
    // @unchecked: DatabasePool is thread-safe; the other stored properties are immutable.
    /// The data directory holding the database file (and the artifact store).
    let dataDirectory: URL
    let pool: DatabasePool

    /// The database file inside a data directory.
    public static let databaseFileName = "registry.sqlite"

    /// Opens (creating and migrating as needed) the registry in `dataDirectory`, then removes
    /// what a killed writer left behind: temporary files, and artifacts no version references.
    public init(dataDirectory: URL, cipher: ArtifactCipher? = nil) throws {
        let files = try ArtifactStore(root: dataDirectory, cipher: cipher)
        self.dataDirectory = files.root
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in
            // Durable commits: a push that returned survives a power loss, not only a crash.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: files.root.appendingPathComponent(Self.databaseFileName).path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw RegistryError.storage("cannot open the registry database in \(files.root.path): \(error)")
        }
        super.init(store: files, core: RegistryCore(store: files, db: SQLiteTransactions(pool: pool)))
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

    /// A number that changes with every write (servers poll it).
    public func revision() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT value FROM revision WHERE id = 1") ?? 0 }
    }

    // MARK: JSON columns

    static func json<T: Encodable>(_ value: T) throws -> String { try RegistryCore.json(value) }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try RegistryCore.decode(type, text) }
}
