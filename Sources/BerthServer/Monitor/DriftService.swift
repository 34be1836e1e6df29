import BerthMonitor
import Foundation
import ServiceLifecycle

/// Keeps the drift gauges live: every `interval`, each model's watched version (production, else
/// the newest ready one) that has a reference sample is compared with its newest logged rows,
/// as `GET …/drift` does, so `/metrics` shows drift without anyone asking for it. Models without
/// a reference sample or traffic are skipped quietly. With a log shared by replicas, the live-metric
/// gauges are refreshed too.
struct DriftService: Service {
    let monitoring: Monitoring
    let manager: ModelManager
    let interval: Duration
    /// Logged rows each check covers (the drift API's default window).
    static let window = 1_000

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            // SQLite reads and a model run over the reference sample: off the event loops.
            _ = try? await blocking { refresh() }
        }
    }

    /// One pass over the served models.
    func refresh() {
        for model in Set(manager.index().map(\.name)).sorted() {
            // A shared log takes labels through every replica: the live-metric gauges follow here too,
            // not only on the replica that received the feedback.
            if monitoring.log?.store.isShared == true { monitoring.refreshGauges(model: model) }
            let version = manager.route(of: model)?.primary ?? (try? manager.readyVersions(model: model))?.max()
            guard let version, let references = monitoring.references,
                  (try? references.get(model: model, version: String(version))) != nil else { continue }
            let session = (try? manager.servable(model: model, version: String(version)))?.session
            _ = try? monitoring.drift(model: model, version: String(version), window: Self.window, session: session)
        }
    }
}
