import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// A few PostgreSQL connections driven by their own one-thread event loop group, used from
/// synchronous code: the caller's thread blocks on a semaphore until the connection's event loop
/// answers. The loop never blocks (only this pool's callbacks run on it) and callers are never
/// on it, so nothing can deadlock; the ``Registry`` protocol stays synchronous like SQLite's.
///
/// When the database cannot be reached, calls fail fast with ``RegistryError/unavailable(_:)``
/// for a short back-off instead of every caller waiting for its own connect timeout.
public final class PostgresPool: @unchecked Sendable {
    // @unchecked: the mutable state is guarded by `lock`; connections are thread-safe.
    /// The database (without its password in descriptions).
    public let url: PostgresURL
    let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let lock = NSLock()
    private var idle: [PostgresConnection] = []
    private var nextID = 0
    private var downUntil: Date?
    private var closed = false
    /// How long a call waits for an answer before the connection is given up.
    static let callTimeout: TimeInterval = 30
    /// Connections open at once; further callers wait for one (bounded by ``callTimeout``), so a
    /// burst of requests cannot exhaust the server's `max_connections`.
    static let maxOpen = 8
    /// Permits for ``maxOpen``.
    private let permits = DispatchSemaphore(value: PostgresPool.maxOpen)
    /// The TLS settings, made once (a bad `sslrootcert` fails every connect with the same clear error).
    private let tls: Result<PostgresConnection.Configuration.TLS, RegistryError>
    /// After a failed connect, calls fail at once for this long.
    static let backoff: TimeInterval = 0.5
    /// The key of the transaction-level advisory lock every registry write holds: writers run one
    /// at a time across replicas, as SQLite's single writer does within one machine.
    static let writeLockKey: Int64 = 0x6265_7274_6877_7269  // "berthwri"

    /// A pool for `url`; connects on first use.
    public init(url: PostgresURL, logger: Logger) {
        self.url = url
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        tls = Self.makeTLS(url)
    }

    deinit { shutdown() }

    /// Closes every connection and stops the event loop.
    public func shutdown() {
        let connections: [PostgresConnection]? = lock.withLock {
            if closed { return nil }
            closed = true
            defer { idle.removeAll() }
            return idle
        }
        guard let connections else { return }
        for c in connections { _ = try? wait(c.close()) }
        group.shutdownGracefully { _ in }
    }

    func configuration() throws -> PostgresConnection.Configuration {
        var c = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user, password: url.password,
                                                 database: url.database, tls: try tls.get())
        c.options.connectTimeout = .seconds(3)
        return c
    }

    /// The connections' TLS from the URL's `sslmode` and `sslrootcert`, as libpq reads them.
    static func makeTLS(_ url: PostgresURL) -> Result<PostgresConnection.Configuration.TLS, RegistryError> {
        if url.sslMode == .disable { return .success(.disable) }
        var config = TLSConfiguration.makeClientConfiguration()
        switch url.sslMode {
        case .disable, .prefer: config.certificateVerification = .none
        case .require: config.certificateVerification = url.sslRootCert == nil ? .none : .noHostnameVerification
        case .verifyCA: config.certificateVerification = .noHostnameVerification
        case .verifyFull: config.certificateVerification = .fullVerification
        }
        if let root = url.sslRootCert { config.trustRoots = .file(root) }
        do {
            let context = try NIOSSLContext(configuration: config)
            return .success(url.sslMode == .prefer ? .prefer(context) : .require(context))
        } catch {
            return .failure(.badInput("cannot set up TLS for \(url)\(url.sslRootCert.map { " (sslrootcert \($0))" } ?? ""): \(error)"))
        }
    }

    /// Opens a new connection (not pooled): the LISTEN connection lives outside the pool.
    func connect() throws -> PostgresConnection {
        if let until = lock.withLock({ downUntil }), until > Date() {
            throw RegistryError.unavailable("\(url) did not answer a moment ago; retrying shortly")
        }
        let id = lock.withLock { () -> Int in nextID += 1; return nextID }
        do {
            let c = try wait(PostgresConnection.connect(on: group.next(), configuration: try configuration(), id: id, logger: logger))
            lock.withLock { downUntil = nil }
            return c
        } catch {
            lock.withLock { downUntil = Date().addingTimeInterval(Self.backoff) }
            throw Self.describe(error, url: url, connecting: true)
        }
    }

    /// Runs `body` on a connection from the pool (returned to it unless it broke).
    /// Not re-entrant: `body` must use its session, never the pool again (it could wait for itself).
    @discardableResult
    public func withConnection<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        if permits.wait(timeout: .now() + Self.callTimeout) == .timedOut {
            throw RegistryError.unavailable("all \(Self.maxOpen) connections to \(url) stayed busy for \(Int(Self.callTimeout)) s")
        }
        defer { permits.signal() }
        let conn = try lock.withLock { () -> PostgresConnection? in
            if closed { throw RegistryError.unavailable("the registry connection pool is closed") }
            while let c = idle.popLast() { if !c.isClosed { return c } }
            return nil
        } ?? connect()
        var healthy = true
        defer {
            if healthy && !conn.isClosed && lock.withLock({ () -> Bool in
                guard !closed else { return false }
                idle.append(conn)
                return true
            }) {
                // returned to the pool
            } else {
                conn.close().whenComplete { _ in }
            }
        }
        do {
            return try body(PostgresSession(connection: conn, pool: self))
        } catch let e as RegistryError {
            if case .unavailable = e { healthy = false }
            throw e
        }
    }

    /// A transaction: writes take the cluster-wide write lock first; reads see one snapshot.
    public func transaction<T>(write: Bool, _ body: (PostgresSession) throws -> T) throws -> T {
        try withConnection { s in
            try s.execute(write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            do {
                if write { try s.execute("SELECT pg_advisory_xact_lock($1)", [Self.writeLockKey]) }
                let result = try body(s)
                try s.execute("COMMIT")
                return result
            } catch {
                _ = try? s.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Blocks the calling thread until `future` completes (or ``callTimeout`` passes).
    func wait<T>(_ future: EventLoopFuture<T>) throws -> T {
        precondition(!future.eventLoop.inEventLoop, "a blocking registry call on the registry's own event loop")
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        future.whenComplete { r in
            box.result = r
            done.signal()
        }
        if done.wait(timeout: .now() + Self.callTimeout) == .timedOut {
            throw RegistryError.unavailable("\(url) did not answer within \(Int(Self.callTimeout)) s")
        }
        return try box.result!.get()
    }

    /// A registry error for a PostgreSQL failure: a refused statement keeps the server's message
    /// (a trigger's "append-only" among them); a lost or refused connection is ``RegistryError/unavailable(_:)``.
    static func describe(_ error: Error, url: PostgresURL, connecting: Bool = false) -> RegistryError {
        if let r = error as? RegistryError { return r }
        if let p = error as? PSQLError {
            if p.code == .server, let info = p.serverInfo {
                let message = info[.message] ?? "error"
                let state = info[.sqlState] ?? ""
                // Class 08 (connection exception), 57P (operator intervention: shutdown) and 53 (resources).
                if state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") {
                    return .unavailable("\(url): \(message)")
                }
                return .storage("PostgreSQL refused a statement: \(message)" + (info[.detail].map { " (\($0))" } ?? ""))
            }
            switch p.code {
            case .server:
                return .storage("PostgreSQL: \(String(reflecting: p))")
            default:
                if let u = p.underlying, u is NIOSSLError || u is NIOSSLExtraError || u is BoringSSLError {
                    return .unavailable("TLS with \(url) failed: \(u) (check sslmode and sslrootcert)")
                }
                let why = p.underlying.map { "\($0)" } ?? "\(p.code)"
                return .unavailable("cannot \(connecting ? "connect to" : "talk to") \(url) (\(why)); is PostgreSQL running?")
            }
        }
        return .unavailable("cannot \(connecting ? "connect to" : "talk to") \(url): \(error)")
    }
}

/// One connection inside ``PostgresPool/withConnection(_:)``: statements with `$1`-style
/// parameters, answered synchronously.
public struct PostgresSession {
    let connection: PostgresConnection
    let pool: PostgresPool

    /// Runs a statement and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ arguments: [any PostgresArgument] = []) throws -> [PostgresRandomAccessRow] {
        var binds = PostgresBindings(capacity: arguments.count)
        for a in arguments { a.bind(into: &binds) }
        do {
            return try pool.wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: pool.logger))
                .rows.map { PostgresRandomAccessRow($0) }
        } catch {
            throw PostgresPool.describe(error, url: pool.url)
        }
    }

    /// Runs a statement for its effect; returns the number of rows it touched.
    @discardableResult
    public func execute(_ sql: String, _ arguments: [any PostgresArgument] = []) throws -> Int {
        var binds = PostgresBindings(capacity: arguments.count)
        for a in arguments { a.bind(into: &binds) }
        do {
            return try pool.wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: pool.logger)).metadata.rows ?? 0
        } catch {
            throw PostgresPool.describe(error, url: pool.url)
        }
    }

    /// The first column of the first row, if any.
    public func scalar<T: PostgresDecodable>(_ type: T.Type, _ sql: String, _ arguments: [any PostgresArgument] = []) throws -> T? {
        guard let row = try query(sql, arguments).first, row.count > 0 else { return nil }
        let cell = row[0]
        return cell.bytes == nil ? nil : try cell.value(T.self)
    }
}

/// Carries a future's result from the event loop to the blocked caller (the semaphore orders the
/// write before the read).
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

/// A value that can be a statement parameter (nil binds SQL NULL).
public protocol PostgresArgument {
    /// Appends this value (or NULL) to a statement's parameters.
    func bind(into binds: inout PostgresBindings)
}

extension String: PostgresArgument { public func bind(into b: inout PostgresBindings) { b.append(self) } }
extension Int: PostgresArgument { public func bind(into b: inout PostgresBindings) { b.append(Int64(self)) } }
extension Int64: PostgresArgument { public func bind(into b: inout PostgresBindings) { b.append(self) } }
extension Double: PostgresArgument { public func bind(into b: inout PostgresBindings) { b.append(self) } }
extension Bool: PostgresArgument { public func bind(into b: inout PostgresBindings) { b.append(self) } }
extension Optional: PostgresArgument where Wrapped: PostgresArgument {
    public func bind(into b: inout PostgresBindings) {
        if let v = self { v.bind(into: &b) } else { b.appendNull() }
    }
}

extension PostgresCell {
    /// The cell decoded as `T` (optional types decode NULL as nil), as a ``RegistryError`` on mismatch.
    public func value<T: PostgresDecodable>(_ type: T.Type) throws -> T {
        do { return try decode(T.self) } catch {
            throw RegistryError.storage("column '\(columnName)' does not decode as \(T.self): \(error)")
        }
    }
}

extension PostgresRandomAccessRow {
    /// A column by name, decoded.
    public func get<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].value(T.self)
    }
}
