import Foundation
import Logging

/// A registry together with the access store in the same database: what `berth serve` and every
/// `berth registry` / `keys` / `tenants` / `audit` command opens.
public typealias RegistryStore = Registry & AccessStore

/// Picks the registry's database from `--registry-url`: absent, SQLite inside the data directory;
/// `postgres://user:password@host:port/database`, a PostgreSQL database shared by replicas. The
/// data directory holds the artifact store either way (shared by replicas with PostgreSQL).
public enum RegistryBackend {
    /// The environment variable read when `--registry-url` is not given.
    public static let environmentVariable = "BERTH_REGISTRY_URL"

    /// `explicit`, else `$BERTH_REGISTRY_URL`; nil or empty: SQLite.
    public static func url(_ explicit: String?) -> String? {
        let text = explicit ?? ProcessInfo.processInfo.environment[environmentVariable]
        return text?.isEmpty == false ? text : nil
    }

    /// Opens (and migrates) the registry. Fails with ``RegistryError/badInput(_:)`` for a malformed
    /// URL and ``RegistryError/unavailable(_:)`` when PostgreSQL cannot be reached.
    public static func open(url: String?, dataDirectory: URL, cipher: ArtifactCipher? = nil,
                            logger: Logger = Logger(label: "berth.registry")) throws -> any RegistryStore {
        guard let url else { return try SQLiteRegistry(dataDirectory: dataDirectory, cipher: cipher) }
        return try PostgresRegistry(url: try PostgresURL(url), dataDirectory: dataDirectory, cipher: cipher, logger: logger)
    }

    /// Like ``open(url:dataDirectory:cipher:logger:)``, but while PostgreSQL is unreachable it logs
    /// and retries with a doubling back-off (1 s … 30 s) for up to `patience`; other errors throw at once.
    public static func openWaiting(url: String?, dataDirectory: URL, cipher: ArtifactCipher? = nil, patience: TimeInterval,
                                   logger: Logger) throws -> any RegistryStore {
        let deadline = Date().addingTimeInterval(patience)
        var delay: TimeInterval = 1
        while true {
            do { return try open(url: url, dataDirectory: dataDirectory, cipher: cipher, logger: logger) } catch RegistryError.unavailable(let why) {
                guard Date().addingTimeInterval(delay) < deadline else { throw RegistryError.unavailable(why) }
                logger.error("registry database unreachable; retrying", metadata: ["error": "\(why)", "retry_in_s": "\(Int(delay))"])
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 30)
            }
        }
    }
}
