import Foundation
import PostgresNIO

/// Membership, change notifications and leadership over the shared database.
extension PostgresRegistry: ClusterCoordinator {
    /// The session-level advisory lock whose holder acts for the cluster (alert rules' actions).
    static let leaderLockKey: Int64 = 0x6265_7274_686C_6561  // "berthlea"

    public func heartbeat(_ r: ReplicaRecord) throws {
        try pool.withConnection { s in
            try s.execute("""
                INSERT INTO replica (id, address, started_at, heartbeat_at, revision, loaded) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, started_at = EXCLUDED.started_at,
                    heartbeat_at = EXCLUDED.heartbeat_at, revision = EXCLUDED.revision, loaded = EXCLUDED.loaded
                """, [r.id, r.address, r.startedAt.timeIntervalSince1970, r.heartbeatAt.timeIntervalSince1970, r.revision,
                      try SQLiteRegistry.json(r.loaded)])
            // Rows of replicas killed long ago (a graceful stop removes its own row).
            try s.execute("DELETE FROM replica WHERE heartbeat_at < $1", [r.heartbeatAt.timeIntervalSince1970 - Self.forgetAfter])
        }
    }

    /// How long a silent replica's row is kept (listing uses a much shorter window).
    static let forgetAfter: TimeInterval = 24 * 3600

    public func liveReplicas(window: TimeInterval) throws -> [ReplicaRecord] {
        try pool.withConnection { s in
            try s.query("SELECT * FROM replica WHERE heartbeat_at >= $1 ORDER BY id", [Date().timeIntervalSince1970 - window]).map { r in
                ReplicaRecord(id: try r.get("id"), address: try r.get("address"),
                              startedAt: Date(timeIntervalSince1970: try r.get("started_at")),
                              heartbeatAt: Date(timeIntervalSince1970: try r.get("heartbeat_at")), revision: try r.get("revision"),
                              loaded: try SQLiteRegistry.decode([String].self, try r.get("loaded")))
            }
        }
    }

    public func removeReplica(id: String) throws {
        try pool.withConnection { s in try s.execute("DELETE FROM replica WHERE id = $1", [id]) }
    }

    public func watchChanges(_ onChange: @escaping @Sendable () -> Void) throws {
        if let c = watch.withLock({ $0.connection }), !c.isClosed { return }
        stopWatching()
        let c = try pool.connect()
        let listener = c.addListener(channel: Self.changeChannel) { [weak self] _, notification in
            // The payload is the committed revision (the revision table's trigger).
            if let r = Int64(notification.payload) { self?.noteRevision(r) }
            onChange()
        }
        let s = PostgresSession(connection: c, pool: pool)
        do { try s.execute("LISTEN \(Self.changeChannel)") } catch {
            listener.stop()
            c.close().whenComplete { _ in }
            throw error
        }
        watch.withLock { $0 = WatchState(connection: c, listener: listener) }
        // Changes committed while nobody listened (before this connection) are found by the poll.
        onChange()
    }

    /// Ends the LISTEN connection (and with it the leadership), if any.
    func stopWatching() {
        let old = watch.withLock { w -> WatchState in defer { w = WatchState() }; return w }
        // The listener's promise must be completed before its event loop goes away.
        old.listener?.stop()
        if let c = old.connection { _ = try? pool.wait(c.close()) }
    }

    public func isLeader() -> Bool {
        let state = watch.withLock { $0 }
        guard let c = state.connection, !c.isClosed else {
            watch.withLock { $0.leader = false }
            return false
        }
        if state.leader { return true }
        let won = (try? PostgresSession(connection: c, pool: pool).scalar(Bool.self, "SELECT pg_try_advisory_lock($1)", [Self.leaderLockKey])) ?? false
        if won { watch.withLock { $0.leader = true } }
        return won == true
    }
}

/// The LISTEN connection, which also holds the leader lock when this replica leads.
struct WatchState: @unchecked Sendable {
    // @unchecked: PostgresConnection is thread-safe; the struct lives inside a Guarded.
    var connection: PostgresConnection?
    var listener: PostgresListenContext?
    var leader = false
}
