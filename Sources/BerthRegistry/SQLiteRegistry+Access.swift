import Foundation
import GRDB

/// Keys, quotas, ownership and the audit log in the registry database (migration v3).
extension SQLiteRegistry: AccessStore {
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

    public func audit(_ e: AuditEntry) throws {
        _ = try write { db in try SQLiteStatements(db: db).execute(RegistryCore.auditInsert, RegistryCore.auditArguments(e)) }
    }
}
