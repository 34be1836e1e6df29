import BerthEval
import BerthMonitor
import BerthRegistry
import Foundation
import NIOCore
import PostgresNIO

/// Reference samples in the replicas' shared PostgreSQL database (`reference_sample`, from the
/// registry's migrations): the CSV bytes with their description and SHA-256, keyed by model and
/// version. A `get` reads the small description each time and the bytes only when the digest
/// differs from the parsed copy it holds, so a sample replaced through any replica (or by
/// `berth registry push --reference-data`) is used by every replica at once, without a restart.
public final class PostgresReferenceStore: ReferenceSampleStore, @unchecked Sendable {
    // @unchecked: `cache` is guarded by `lock`; the pool is thread-safe.
    let pool: PostgresPool
    private let lock = NSLock()
    private var cache: [String: (Table, ReferenceInfo)] = [:]

    /// The store over `pool`.
    public init(pool: PostgresPool) { self.pool = pool }

    @discardableResult
    public func put(model: String, version: String, csv: [UInt8], label: String?) throws -> ReferenceInfo {
        try ReferenceStore.checkComponent(model, what: "model name")
        try ReferenceStore.checkComponent(version, what: "version")
        let table = try ReferenceStore.check(csv: csv, label: label)
        let info = ReferenceStore.describe(table, model: model, version: version, csv: csv, label: label)
        let columns = String(decoding: try JSONEncoder().encode(info.columns), as: UTF8.self)
        try run { s in
            try s.execute("""
                INSERT INTO reference_sample (model, version, rows, columns, label, sha256, created_at, csv)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (model, version) DO UPDATE SET rows = EXCLUDED.rows, columns = EXCLUDED.columns, label = EXCLUDED.label,
                    sha256 = EXCLUDED.sha256, created_at = EXCLUDED.created_at, csv = EXCLUDED.csv
                """, [model, version, info.rows, columns, label, info.sha256, info.createdAt.timeIntervalSince1970, BytesArgument(csv)])
        }
        lock.withLock { cache["\(model)/\(version)"] = (table, info) }
        return info
    }

    public func get(model: String, version: String) throws -> (table: Table, info: ReferenceInfo)? {
        try ReferenceStore.checkComponent(model, what: "model name")
        try ReferenceStore.checkComponent(version, what: "version")
        let key = "\(model)/\(version)"
        let cached = lock.withLock { cache[key] }
        // The bytes only when the digest is not the cached one's.
        let row = try run { s in
            try s.query("""
                SELECT rows, columns, label, sha256, created_at, CASE WHEN sha256 = $3 THEN NULL ELSE csv END AS csv
                FROM reference_sample WHERE model = $1 AND version = $2
                """, [model, version, cached?.1.sha256 ?? ""]).first
        }
        guard let row else {
            lock.withLock { _ = cache.removeValue(forKey: key) }
            return nil
        }
        let sha256 = try row.get("sha256", as: String.self)
        if let cached, cached.1.sha256 == sha256 { return cached }
        let info = ReferenceInfo(model: model, version: version, rows: try row.get("rows", as: Int.self),
                                 columns: try JSONDecoder().decode([String].self, from: Data(try row.get("columns", as: String.self).utf8)),
                                 label: try row.get("label", as: String?.self), sha256: sha256,
                                 createdAt: Date(timeIntervalSince1970: try row.get("created_at", as: Double.self)))
        guard let bytes = try row.get("csv", as: ByteBuffer?.self) else {
            throw ServerError.registry(.storage("reference sample \(key) has no CSV bytes"))
        }
        let table = try ReferenceStore.check(csv: Array(buffer: bytes), label: info.label, source: "the reference sample of \(key)")
        lock.withLock { cache[key] = (table, info) }
        return (table, info)
    }

    /// Runs `body` on a pooled connection; a database failure becomes the server's error (503 when unreachable).
    @discardableResult
    func run<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        do { return try pool.withConnection(body) } catch let e as RegistryError { throw ServerError.registry(e) }
    }
}

/// Bytes bound as one `bytea` parameter.
struct BytesArgument: PostgresArgument {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func bind(into binds: inout PostgresBindings) { binds.append(ByteBuffer(bytes: bytes)) }
}
