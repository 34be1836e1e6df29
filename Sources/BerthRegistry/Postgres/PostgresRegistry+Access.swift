import Foundation
import PostgresNIO

/// Keys, quotas, ownership and the audit log in the shared database, so that every replica
/// authenticates against the same keys. Changes to keys and quotas bump the revision, which is
/// the auth cache's change stamp here (SQLite's is the database file's stat).
extension PostgresRegistry: AccessStore {
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

    public func audit(_ e: AuditEntry) throws {
        // Not under the write lock: appends do not depend on other rows.
        try pool.withConnection { s in try PostgresStatements(session: s).execute(RegistryCore.auditInsert, RegistryCore.auditArguments(e)) }
    }
}
