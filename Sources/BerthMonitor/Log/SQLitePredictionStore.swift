import Foundation
import GRDB

/// The prediction log of one server: SQLite in the data directory (`predictions.sqlite`, WAL,
/// so `berth monitor log` reads while the server writes).
public final class SQLitePredictionStore: PredictionStore, @unchecked Sendable {
    // @unchecked: the pool is thread-safe and the rest immutable.
    let pool: DatabasePool

    public var isShared: Bool { false }

    /// Opens (creating and migrating) the log in `directory`.
    public init(directory: URL) throws {
        var config = Configuration()
        config.busyMode = .timeout(30)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            pool = try DatabasePool(path: directory.appendingPathComponent(PredictionLog.databaseFileName).path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw MonitorError.invalidArgument("cannot open the prediction log in \(directory.path): \(error)")
        }
    }

    public func insert(_ rows: [EncodedPrediction]) throws {
        try pool.write { db in
            // Compiled once per connection, not once per row.
            let insert = try db.cachedStatement(sql: """
                INSERT INTO prediction (id, time, model, version, route, transport, rows, latency_ms, inputs, outputs, outcome)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for r in rows {
                try insert.execute(arguments: [r.id, r.time, r.model, r.version, r.route, r.transport, r.rows, r.latencyMs,
                                               r.inputs, r.outputs, r.outcome])
            }
        }
    }

    public func applyRetention(now: Date, maxAge: TimeInterval, maxRows: Int) throws {
        try pool.write { db in
            // Records are written in time order, so the expired ones are a prefix of `seq`: find its end by
            // walking from the oldest (cost in proportion to what is deleted, no scan of the table).
            let cutoff = now.timeIntervalSince1970 - maxAge
            if let firstKept = try Int64.fetchOne(db, sql: "SELECT seq FROM prediction WHERE time >= ? ORDER BY seq LIMIT 1",
                                                  arguments: [cutoff]) {
                try db.execute(sql: "DELETE FROM prediction WHERE seq < ?", arguments: [firstKept])
            } else {
                try db.execute(sql: "DELETE FROM prediction")
            }
            // Deletions only ever take a prefix, so the newest `maxRows` records are those above max(seq) - maxRows.
            if let newest = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM prediction") {
                try db.execute(sql: "DELETE FROM prediction WHERE seq <= ?", arguments: [newest - Int64(maxRows)])
            }
        }
    }

    public func records(model: String, version: String?, since: Date?, limit: Int?) throws -> [LoggedPrediction] {
        try pool.read { db in
            var sql = "SELECT * FROM prediction WHERE model = ?"
            var args: StatementArguments = [model]
            if let version { sql += " AND version = ?"; args += [version] }
            if let since { sql += " AND time >= ?"; args += [since.timeIntervalSince1970] }
            sql += " ORDER BY seq"
            if let limit { sql += " LIMIT ?"; args += [limit] }
            return try Row.fetchAll(db, sql: sql, arguments: args).map(Self.logged)
        }
    }

    public func newest(model: String, version: String, rows: Int, labelledOnly: Bool) throws -> [LoggedPrediction] {
        let sql = labelledOnly
            ? "SELECT * FROM prediction WHERE model = ? AND version = ? AND labels IS NOT NULL ORDER BY label_time DESC, seq DESC"
            : "SELECT * FROM prediction WHERE model = ? AND version = ? ORDER BY seq DESC"
        return try pool.read { db in
            let cursor = try Row.fetchCursor(db, sql: sql, arguments: [model, version])
            var out: [LoggedPrediction] = [], covered = 0
            while covered < rows, let row = try cursor.next() {
                let p = Self.logged(row)
                out.append(p)
                covered += p.rows
            }
            return out
        }
    }

    public func versions(of model: String) throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT version FROM prediction WHERE model = ? GROUP BY version ORDER BY MIN(seq)",
                                arguments: [model])
        }
    }

    public func attach(model: String, _ feedback: [Feedback], now: Date) throws -> FeedbackResult {
        var result = FeedbackResult(accepted: 0, unknown: [], rejected: [])
        try pool.write { db in
            for f in feedback {
                guard let row = try Row.fetchOne(db, sql: "SELECT seq, rows FROM prediction WHERE model = ? AND id = ? ORDER BY seq DESC LIMIT 1",
                                                 arguments: [model, f.id]) else {
                    result.unknown.append(f.id)
                    continue
                }
                let rows: Int = row["rows"]
                guard f.labels.count == rows else {
                    result.rejected.append(.init(id: f.id, reason: FeedbackResult.rowMismatch(rows: rows, labels: f.labels.count)))
                    continue
                }
                let seq: Int64 = row["seq"]
                try db.execute(sql: "UPDATE prediction SET labels = ?, label_time = ? WHERE seq = ?",
                               arguments: [try Feedback.labelsJSON(f.labels), now.timeIntervalSince1970, seq])
                result.accepted += 1
            }
        }
        return result
    }

    static func logged(_ row: Row) -> LoggedPrediction {
        LoggedPrediction(id: row["id"], time: row["time"], model: row["model"], version: row["version"], route: row["route"],
                         transport: row["transport"], rows: row["rows"], latencyMs: row["latency_ms"], inputs: row["inputs"],
                         outputs: row["outputs"], outcomeJSON: row["outcome"], labelsJSON: row["labels"])
    }
}
