import BerthMonitor
import BerthRegistry
import Foundation
import PostgresNIO

/// Every replica's requests per model and second in the shared database (`request_count`, from
/// the registry's migrations): each replica adds its rows about once a second, and the leader
/// sums all of them for the request-window alert rules. Rows of a replica that died still count
/// for the seconds they cover: those requests were answered (or failed) in the window.
public final class PostgresRequestCountStore: RequestCountStore, @unchecked Sendable {
    // @unchecked: the pool is thread-safe; the rest is immutable.
    let pool: PostgresPool

    /// The store over `pool`.
    public init(pool: PostgresPool) { self.pool = pool }

    public func write(_ counts: [RequestCounts], replica: String) throws {
        // A few rows a second in normal running; after an outage up to an hour of them, sent in
        // chunks that stay far below PostgreSQL's 65,535 parameters per statement.
        for start in stride(from: 0, to: counts.count, by: 1_000) {
            let chunk = counts[start..<min(start + 1_000, counts.count)]
            var args: [any PostgresArgument] = [replica]
            var values: [String] = []
            for c in chunk {
                let n = args.count
                values.append("($1, $\(n + 1), $\(n + 2), $\(n + 3), $\(n + 4), $\(n + 5)::int4[], $\(n + 6)::int8[])")
                let buckets = c.latency.keys.sorted()
                args += [c.model, c.second, c.requests, c.failures,
                         ArrayArgument(buckets.map { Int32($0) }), ArrayArgument(buckets.map { Int64(c.latency[$0]!) })]
            }
            let sql = "INSERT INTO request_count (replica, model, second, requests, failures, latency_bucket, latency_count) VALUES "
                + values.joined(separator: ", ")
            try run { s in try s.execute(sql, args) }
        }
    }

    public func total(model: String, from second: Int64) throws -> RequestCounts {
        try run { s in
            var out = RequestCounts(model: model, second: second)
            if let row = try s.query("SELECT COALESCE(SUM(requests), 0)::int8 AS r, COALESCE(SUM(failures), 0)::int8 AS f FROM request_count WHERE model = $1 AND second >= $2",
                                     [model, second]).first {
                out.requests = Int(try row.get("r", as: Int64.self))
                out.failures = Int(try row.get("f", as: Int64.self))
            }
            for row in try s.query("""
                SELECT b, SUM(c)::int8 AS n FROM request_count, unnest(latency_bucket, latency_count) AS u(b, c)
                WHERE model = $1 AND second >= $2 GROUP BY b
                """, [model, second]) {
                out.latency[Int(try row.get("b", as: Int32.self))] = Int(try row.get("n", as: Int64.self))
            }
            return out
        }
    }

    public func prune(before second: Int64) throws {
        try run { s in try s.execute("DELETE FROM request_count WHERE second < $1", [second]) }
    }

    /// Runs `body` on a pooled connection; a database failure becomes the server's error (503 when unreachable).
    @discardableResult
    func run<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        do { return try pool.withConnection(body) } catch let e as RegistryError { throw ServerError.registry(e) }
    }
}
