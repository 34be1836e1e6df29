import BerthMonitor
import BerthRegistry
import Foundation
import PostgresNIO

/// The alert rules' states and history in the replicas' shared database: the leader (the holder
/// of the cluster's advisory lock) writes them, every replica shows them, and a replica that
/// becomes leader continues from them.
public final class PostgresAlertStateStore: AlertStateStore, @unchecked Sendable {
    // @unchecked: the pool is thread-safe; the rest is immutable.
    let pool: PostgresPool

    public var isShared: Bool { true }

    /// The store over `pool`.
    public init(pool: PostgresPool) { self.pool = pool }

    public func load() throws -> [String: AlertStatus] {
        try run { s in
            var out: [String: AlertStatus] = [:]
            for r in try s.query("SELECT rule, status FROM alert_state") {
                out[try r.get("rule", as: String.self)] = try JSONDecoder().decode(AlertStatus.self, from: Data(try r.get("status", as: String.self).utf8))
            }
            return out
        }
    }

    public func save(rule: String, status: AlertStatus, replica: String) throws {
        let text = String(decoding: try JSONEncoder().encode(status), as: UTF8.self)
        try run { s in
            try s.execute("""
                INSERT INTO alert_state (rule, status, updated_at, replica) VALUES ($1, $2, $3, $4)
                ON CONFLICT (rule) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, replica = EXCLUDED.replica
                """, [rule, text, Date().timeIntervalSince1970, replica])
        }
    }

    public func record(_ e: AlertEvent) throws {
        let actions = String(decoding: try JSONEncoder().encode(e.actions), as: UTF8.self)
        try run { s in
            try s.execute("""
                INSERT INTO alert_event (rule, model, transition, at, value, samples, version, actions, replica)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """, [e.rule, e.model, e.transition, e.at.timeIntervalSince1970, e.value.flatMap { $0.isFinite ? $0 : nil }, e.samples,
                      e.version, actions, e.replica])
        }
    }

    public func history(limit: Int) throws -> [AlertEvent] {
        try run { s in
            try s.query("SELECT * FROM alert_event ORDER BY id DESC LIMIT $1", [max(0, limit)]).map { r in
                AlertEvent(rule: try r.get("rule", as: String.self), model: try r.get("model", as: String.self),
                           transition: try r.get("transition", as: String.self),
                           at: Date(timeIntervalSince1970: try r.get("at", as: Double.self)), value: try r.get("value", as: Double?.self),
                           samples: try r.get("samples", as: Int.self), version: try r.get("version", as: String?.self),
                           actions: try JSONDecoder().decode([String].self, from: Data(try r.get("actions", as: String.self).utf8)),
                           replica: try r.get("replica", as: String.self))
            }
        }
    }

    /// Runs `body` on a pooled connection; a database failure becomes the server's error (503 when unreachable).
    @discardableResult
    func run<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        do { return try pool.withConnection(body) } catch let e as RegistryError { throw ServerError.registry(e) }
    }
}
