import BerthRegistry
import Foundation
import Logging
import Prometheus
import ServiceLifecycle

/// Membership in a shared registry: every heartbeat interval it (re)opens the LISTEN connection
/// whose notifications wake the registry poll, and records this replica's heartbeat (address,
/// revision, loaded versions). On graceful shutdown it removes the replica's row. Failures (the
/// database down) are logged once per outage; serving never depends on this service.
struct ClusterService: Service {
    let coordinator: any ClusterCoordinator
    let deployer: RegistryDeployer
    let identity: ReplicaIdentity
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Prometheus tells pods apart by its own target labels; this series names the replica id
        // the cluster API uses, so the two can be joined (`berth_replica_info{replica="…"} 1`).
        deployer.manager.metrics.registry.makeGauge(name: "berth_replica_info", labels: [("replica", identity.id)]).set(1.0 as Double)
        // Every other series gets the same label in the exposition, so replicas' metrics never merge.
        deployer.manager.metrics.replicaLabel = identity.id
        deployer.changes.arm()
        var failing = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let record = ReplicaRecord(id: identity.id, address: identity.address, startedAt: identity.startedAt, heartbeatAt: Date(),
                                       revision: await deployer.appliedRevision ?? 0, loaded: Self.loaded(deployer.manager))
            let coordinator = self.coordinator, signal = deployer.changes
            do {
                try await blocking {
                    try coordinator.watchChanges { signal.fire() }
                    try coordinator.heartbeat(record)
                }
                if failing { logger.notice("registry database reachable again") }
                failing = false
            } catch {
                if !failing { logger.error("cluster heartbeat failed; serving continues, retrying", metadata: ["error": "\(error)"]) }
                failing = true
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
        let coordinator = self.coordinator, id = identity.id
        try? await blocking { try coordinator.removeReplica(id: id) }
    }

    /// `model:version` of every ready version, sorted.
    static func loaded(_ manager: ModelManager) -> [String] {
        manager.index().filter { $0.state == .ready }.map { "\($0.name):\($0.version ?? 0)" }.sorted()
    }
}
