import Foundation

/// This process as a cluster member: its id (`$BERTH_REPLICA_ID`, the pod name on Kubernetes;
/// else `host-pid`) and its REST address once bound.
public final class ReplicaIdentity: Sendable {
    public let id: String
    public let startedAt: Date
    private let boundAddress = Locked<String?>(nil)

    public init(id: String? = nil) {
        let env = ProcessInfo.processInfo.environment["BERTH_REPLICA_ID"]
        self.id = id ?? (env?.isEmpty == false ? env! : "\(ProcessInfo.processInfo.hostName)-\(getpid())")
        startedAt = Date()
    }

    /// Where clients reach this replica (`host:port`); empty until the server listens.
    public var address: String {
        get { boundAddress.withLock { $0 } ?? "" }
        set { boundAddress.withLock { $0 = newValue } }
    }
}
