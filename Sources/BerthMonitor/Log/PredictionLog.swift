import BerthEval
import BerthProtocol
import Foundation
import GRDB

/// The sampled log of requests and responses, in SQLite under the data directory
/// (`predictions.sqlite`, WAL, so `berth monitor log` reads while the server writes).
///
/// The request path only appends to an in-memory batch; one background queue encodes the
/// tensors and writes a batch per transaction, then applies retention. Feedback and reads
/// write the pending batch first, so a label sent right after its prediction finds it.
public final class PredictionLog: @unchecked Sendable {
    // @unchecked: `pending`, `flushScheduled`, `dropped` and `lastRetention` are guarded by `lock`
    // (the last one by `writer`); the pool is thread-safe and the rest immutable.
    /// What is kept and for how long.
    public let settings: PredictionLogSettings
    let pool: DatabasePool
    private let lock = NSLock()
    private var pending: [PredictionRecord] = []
    private var pendingBytes = 0
    private var flushScheduled = false
    private var droppedCount = 0
    private let writer = DispatchQueue(label: "berth.prediction-log")
    private var lastRetention = Date.distantPast

    /// Opens (creating and migrating) the log in `directory`.
    public init(directory: URL, settings: PredictionLogSettings = PredictionLogSettings()) throws {
        self.settings = settings
        var config = Configuration()
        config.busyMode = .timeout(30)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            pool = try DatabasePool(path: directory.appendingPathComponent(Self.databaseFileName).path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw MonitorError.invalidArgument("cannot open the prediction log in \(directory.path): \(error)")
        }
    }

    /// Opens an existing log for reading; an error names the folder when there is none.
    public static func existing(in directory: URL) throws -> PredictionLog {
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(databaseFileName).path) else {
            throw MonitorError.invalidArgument("no prediction log in \(directory.path) (serve with --prediction-log-sample to record one)")
        }
        return try PredictionLog(directory: directory)
    }

    /// True for the requests to log: each drawn independently with the sample rate.
    public func sample() -> Bool {
        settings.sampleRate >= 1 || (settings.sampleRate > 0 && Double.random(in: 0..<1) < settings.sampleRate)
    }

    /// Records dropped because the writer fell behind (or failed).
    public var dropped: Int { lock.withLock { droppedCount } }

    /// Queues `record` for the next batch; never blocks on the disk.
    public func append(_ record: PredictionRecord) {
        let size = record.approximateBytes
        let schedule: Bool = lock.withLock {
            guard pending.count < settings.maxPending, pendingBytes + size <= settings.maxPendingBytes else { droppedCount += 1; return false }
            pending.append(record)
            pendingBytes += size
            if flushScheduled { return false }
            flushScheduled = true
            return true
        }
        if schedule { writer.asyncAfter(deadline: .now() + settings.flushInterval) { [self] in writePending() } }
    }

    /// Writes every queued record now.
    public func flush() { writer.sync { writePending() } }

    /// Runs on `writer`: encodes and writes the queued records in batches, then retention.
    private func writePending() {
        let batch: [PredictionRecord] = lock.withLock {
            flushScheduled = false
            pendingBytes = 0
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        var start = 0
        while start < batch.count {
            let part = batch[start..<min(start + settings.batchSize, batch.count)]
            start += part.count
            let rows = part.map(encode)
            do {
                try pool.write { db in
                    // Compiled once per connection, not once per row.
                    let insert = try db.cachedStatement(sql: """
                        INSERT INTO prediction (id, time, model, version, route, transport, rows, latency_ms, inputs, outputs, outcome)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """)
                    for r in rows { try insert.execute(arguments: r) }
                }
            } catch {
                lock.withLock { droppedCount += rows.count }
            }
        }
        if Date().timeIntervalSince(lastRetention) > 5 {
            lastRetention = Date()
            try? applyRetention(now: lastRetention)
        }
    }

    private func encode(_ r: PredictionRecord) -> StatementArguments {
        let outcome = RowOutcome.read(r.outputs).jsonText ?? RowOutcome.unknown.jsonText!
        return [r.id, r.time.timeIntervalSince1970, r.model, r.version, r.route, r.transport, r.rows, r.latencyMs,
                TensorListJSON.encode(settings.masking.apply(r.inputs)), TensorListJSON.encode(r.outputs), outcome]
    }

    /// Deletes records older than the maximum age, then the oldest beyond the maximum count.
    func applyRetention(now: Date) throws {
        try pool.write { db in
            // Records are written in time order, so the expired ones are a prefix of `seq`: find its end by
            // walking from the oldest (cost in proportion to what is deleted, no scan of the table).
            let cutoff = now.timeIntervalSince1970 - settings.maxAge
            if let firstKept = try Int64.fetchOne(db, sql: "SELECT seq FROM prediction WHERE time >= ? ORDER BY seq LIMIT 1",
                                                  arguments: [cutoff]) {
                try db.execute(sql: "DELETE FROM prediction WHERE seq < ?", arguments: [firstKept])
            } else {
                try db.execute(sql: "DELETE FROM prediction")
            }
            // Deletions only ever take a prefix, so the newest `maxRows` records are those above max(seq) - maxRows.
            if let newest = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM prediction") {
                try db.execute(sql: "DELETE FROM prediction WHERE seq <= ?", arguments: [newest - Int64(settings.maxRows)])
            }
        }
    }

    // MARK: Reading

    /// Records of `model` (optionally one version) finished at or after `since`, oldest first.
    public func records(model: String, version: String? = nil, since: Date? = nil, limit: Int? = nil) throws -> [LoggedPrediction] {
        flush()
        return try pool.read { db in
            var sql = "SELECT * FROM prediction WHERE model = ?"
            var args: StatementArguments = [model]
            if let version { sql += " AND version = ?"; args += [version] }
            if let since { sql += " AND time >= ?"; args += [since.timeIntervalSince1970] }
            sql += " ORDER BY seq"
            if let limit { sql += " LIMIT ?"; args += [limit] }
            return try Row.fetchAll(db, sql: sql, arguments: args).map(Self.logged)
        }
    }

    /// The newest labelled records of `model`'s `version` covering at least `rows` rows, newest first.
    public func labelled(model: String, version: String, rows: Int) throws -> [LoggedPrediction] {
        try newest(model: model, version: version, rows: rows, labelledOnly: true)
    }

    /// The newest records of `model`'s `version` covering at least `rows` rows, newest first.
    public func recent(model: String, version: String, rows: Int) throws -> [LoggedPrediction] {
        try newest(model: model, version: version, rows: rows, labelledOnly: false)
    }

    private func newest(model: String, version: String, rows: Int, labelledOnly: Bool) throws -> [LoggedPrediction] {
        flush()
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

    /// The versions of `model` with logged records, in order of their first record.
    public func versions(of model: String) throws -> [String] {
        flush()
        return try pool.read { db in
            try String.fetchAll(db, sql: "SELECT version FROM prediction WHERE model = ? GROUP BY version ORDER BY MIN(seq)",
                                arguments: [model])
        }
    }

    static func logged(_ row: Row) -> LoggedPrediction {
        let outcomeText: String = row["outcome"]
        let labelsText: String? = row["labels"]
        return LoggedPrediction(
            id: row["id"], time: Date(timeIntervalSince1970: row["time"]), model: row["model"], version: row["version"],
            route: row["route"], transport: row["transport"], rows: row["rows"], latencyMs: row["latency_ms"],
            inputs: row["inputs"], outputs: row["outputs"],
            outcome: (try? JSONDecoder().decode(RowOutcome.self, from: Data(outcomeText.utf8))) ?? .unknown,
            labels: labelsText.flatMap { try? JSONDecoder().decode([ClassLabel].self, from: Data($0.utf8)) })
    }
}
