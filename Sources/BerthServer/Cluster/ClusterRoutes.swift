import BerthRegistry
import Foundation
import Hummingbird

/// `GET /api/v1/cluster` (admin): the live replicas sharing this server's registry. A server on
/// an SQLite registry is a cluster of one and lists itself.
struct ClusterRoutes: Sendable {
    let deployer: RegistryDeployer
    let identity: ReplicaIdentity
    /// A replica silent for longer than this is not listed (heartbeats come every poll interval).
    static let liveWindow: TimeInterval = 10

    struct ClusterList: Encodable {
        var replica: String
        var shared: Bool
        var replicas: [ReplicaRecord]
    }

    func register(on router: Router<BerthRequestContext>) {
        router.group("/api/v1").get("cluster") { _, _ in
            let deployer = self.deployer, identity = self.identity
            if let coordinator = deployer.registry as? any ClusterCoordinator {
                let replicas = try await blocking { try coordinator.liveReplicas(window: Self.liveWindow) }
                return try Response.json(ClusterList(replica: identity.id, shared: true, replicas: replicas))
            }
            let me = ReplicaRecord(id: identity.id, address: identity.address, startedAt: identity.startedAt, heartbeatAt: Date(),
                                   revision: await deployer.appliedRevision ?? 0, loaded: ClusterService.loaded(deployer.manager))
            return try Response.json(ClusterList(replica: identity.id, shared: false, replicas: [me]))
        }
    }
}
