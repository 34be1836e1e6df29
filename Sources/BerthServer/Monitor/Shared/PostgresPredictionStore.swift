import BerthMonitor
import BerthRegistry
import Foundation
import PostgresNIO

/// The prediction log in the replicas' shared PostgreSQL database (`--registry-url`; the table
/// comes with the registry's migrations): every replica logs into one table, so feedback posted
/// to any replica joins a request answered by any other, and live metrics, drift, estimates and
/// retraining data are the same on all of them. Inserts are one multi-row statement per batch
/// outside the registry's write lock, so logging never queues behind registry writes.
public final class PostgresPredictionStore: PredictionStore, @unchecked Sendable {
    // @unchecked: the pool is thread-safe; the rest is immutable.
    let pool: PostgresPool
    /// The replica written beside each record.
    let replica: String

    public var isShared: Bool { true }

    /// Columns of one row, in the order of ``insert(_:)``'s statement.
    static let columns = "id, time, model, version, route, transport, rows, latency_ms, inputs, outputs, outcome, replica"

    /// The store over `pool`, writing `replica` beside each record.
    public init(pool: PostgresPool, replica: String) {
        self.pool = pool
        self.replica = replica
    }

    public func insert(_ rows: [EncodedPrediction]) throws {
        guard !rows.isEmpty else { return }
        // One statement of twelve array parameters, whatever the batch size: PostgreSQL unpacks
        // them (unnest) into rows, and nothing is assembled per row but the arrays themselves.
        let args: [any PostgresArgument] = [
            ArrayArgument(rows.map(\.id)), ArrayArgument(rows.map(\.time)), ArrayArgument(rows.map(\.model)),
            ArrayArgument(rows.map(\.version)), ArrayArgument(rows.map { $0.route ?? "" }), ArrayArgument(rows.map(\.transport)),
            ArrayArgument(rows.map { Int64($0.rows) }), ArrayArgument(rows.map(\.latencyMs)), ArrayArgument(rows.map(\.inputs)),
            ArrayArgument(rows.map(\.outputs)), ArrayArgument(rows.map(\.outcome)), replica,
        ]
        try run { s in
            try s.execute("""
                INSERT INTO prediction (\(Self.columns))
                SELECT id, time, model, version, NULLIF(route, ''), transport, rows, latency_ms, inputs, outputs, outcome, $12
                FROM unnest($1::text[], $2::float8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::float8[],
                            $9::text[], $10::text[], $11::text[])
                    AS r(id, time, model, version, route, transport, rows, latency_ms, inputs, outputs, outcome)
                """, args)
        }
    }

    public func applyRetention(now: Date, maxAge: TimeInterval, maxRows: Int) throws {
        try run { s in
            try s.execute("DELETE FROM prediction WHERE time < $1", [now.timeIntervalSince1970 - maxAge])
            // Sequence numbers are given in insert order across replicas: the newest `maxRows` are above max(seq) - maxRows.
            if let newest = try s.scalar(Int64.self, "SELECT MAX(seq) FROM prediction") {
                try s.execute("DELETE FROM prediction WHERE seq <= $1", [newest - Int64(maxRows)])
            }
        }
    }

    public func records(model: String, version: String?, since: Date?, limit: Int?) throws -> [LoggedPrediction] {
        var sql = "SELECT * FROM prediction WHERE model = $1"
        var args: [any PostgresArgument] = [model]
        if let version { args.append(version); sql += " AND version = $\(args.count)" }
        if let since { args.append(since.timeIntervalSince1970); sql += " AND time >= $\(args.count)" }
        sql += " ORDER BY seq"
        if let limit { args.append(limit); sql += " LIMIT $\(args.count)" }
        return try run { s in try s.query(sql, args).map(Self.logged) }
    }

    public func newest(model: String, version: String, rows: Int, labelledOnly: Bool) throws -> [LoggedPrediction] {
        let sql = labelledOnly
            ? "SELECT * FROM prediction WHERE model = $1 AND version = $2 AND labels IS NOT NULL ORDER BY label_time DESC, seq DESC LIMIT $3 OFFSET $4"
            : "SELECT * FROM prediction WHERE model = $1 AND version = $2 ORDER BY seq DESC LIMIT $3 OFFSET $4"
        // Pages until the records cover `rows` rows: a record holds one row or more.
        let page = max(1, min(rows, 500))
        var out: [LoggedPrediction] = [], covered = 0
        while covered < rows {
            let batch = try run { s in try s.query(sql, [model, version, page, out.count]).map(Self.logged) }
            for p in batch where covered < rows {
                out.append(p)
                covered += p.rows
            }
            if batch.count < page { break }
        }
        return out
    }

    public func versions(of model: String) throws -> [String] {
        try run { s in
            try s.query("SELECT version FROM prediction WHERE model = $1 GROUP BY version ORDER BY MIN(seq)", [model])
                .map { try $0.get("version", as: String.self) }
        }
    }

    public func attach(model: String, _ feedback: [Feedback], now: Date) throws -> FeedbackResult {
        var result = FeedbackResult(accepted: 0, unknown: [], rejected: [])
        try run { s in
            try s.execute("BEGIN")
            do {
                for f in feedback {
                    guard let row = try s.query("SELECT seq, rows FROM prediction WHERE model = $1 AND id = $2 ORDER BY seq DESC LIMIT 1",
                                                [model, f.id]).first else {
                        result.unknown.append(f.id)
                        continue
                    }
                    let rows = try row.get("rows", as: Int.self)
                    guard f.labels.count == rows else {
                        result.rejected.append(.init(id: f.id, reason: FeedbackResult.rowMismatch(rows: rows, labels: f.labels.count)))
                        continue
                    }
                    try s.execute("UPDATE prediction SET labels = $1, label_time = $2 WHERE seq = $3",
                                  [try Feedback.labelsJSON(f.labels), now.timeIntervalSince1970, try row.get("seq", as: Int64.self)])
                    result.accepted += 1
                }
                try s.execute("COMMIT")
            } catch {
                _ = try? s.execute("ROLLBACK")
                throw error
            }
        }
        return result
    }

    /// Runs `body` on a pooled connection; a database failure becomes the server's error (503 when unreachable).
    @discardableResult
    func run<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        do { return try pool.withConnection(body) } catch let e as RegistryError { throw ServerError.registry(e) }
    }

    static func logged(_ r: PostgresRandomAccessRow) throws -> LoggedPrediction {
        LoggedPrediction(id: try r.get("id", as: String.self), time: try r.get("time", as: Double.self), model: try r.get("model", as: String.self),
                         version: try r.get("version", as: String.self), route: try r.get("route", as: String?.self),
                         transport: try r.get("transport", as: String.self), rows: try r.get("rows", as: Int.self),
                         latencyMs: try r.get("latency_ms", as: Double.self), inputs: try r.get("inputs", as: String.self),
                         outputs: try r.get("outputs", as: String.self), outcomeJSON: try r.get("outcome", as: String.self),
                         labelsJSON: try r.get("labels", as: String?.self))
    }
}

/// A column of values bound as one PostgreSQL array parameter.
struct ArrayArgument<Element: PostgresArrayEncodable>: PostgresArgument {
    let values: [Element]
    init(_ values: [Element]) { self.values = values }
    func bind(into binds: inout PostgresBindings) {
        // Arrays of text and numbers always encode; a NULL would make the INSERT fail loudly, never silently.
        do { try binds.append(values) } catch { binds.appendNull() }
    }
}
