import Foundation

/// One serving replica as it registers itself in a shared registry.
public struct ReplicaRecord: Sendable, Equatable, Codable {
    /// A name unique in the cluster (the pod name on Kubernetes; `$BERTH_REPLICA_ID`, else host-pid).
    public var id: String
    /// Where its REST API listens (`host:port`).
    public var address: String
    /// When it started.
    public var startedAt: Date
    /// Its last heartbeat; replicas silent for longer than the liveness window are not listed.
    public var heartbeatAt: Date
    /// The registry revision it last applied.
    public var revision: Int64
    /// What it serves, as `model:version` (production and the other aliased versions).
    public var loaded: [String]

    public init(id: String, address: String, startedAt: Date, heartbeatAt: Date, revision: Int64, loaded: [String]) {
        self.id = id
        self.address = address
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.revision = revision
        self.loaded = loaded
    }

    enum CodingKeys: String, CodingKey {
        case id, address, revision, loaded
        case startedAt = "started_at"
        case heartbeatAt = "heartbeat_at"
    }
}

/// What a registry shared by replicas offers beyond ``Registry``: membership, a wake-up when
/// another replica changes something, and a leader that acts once for the cluster.
public protocol ClusterCoordinator: Sendable {
    /// Records (inserts or refreshes) a replica's heartbeat.
    func heartbeat(_ replica: ReplicaRecord) throws
    /// Replicas whose heartbeat is at most `window` seconds old, by id.
    func liveReplicas(window: TimeInterval) throws -> [ReplicaRecord]
    /// Removes a replica (at graceful shutdown).
    func removeReplica(id: String) throws
    /// Keeps a connection that LISTENs for changes (reconnecting when it dropped) and calls
    /// `onChange` on every change any replica commits; call it periodically. Cheap when connected.
    func watchChanges(_ onChange: @escaping @Sendable () -> Void) throws
    /// Whether this process leads the cluster, taking the leadership when nobody holds it. The
    /// leader keeps it until its watch connection drops (the process ends or loses the database).
    func isLeader() -> Bool
}
