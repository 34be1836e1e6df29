import BerthMonitor
import Foundation
import Logging
import ServiceLifecycle

/// Writes this replica's request counts to the shared store every `interval` (and once more on
/// shutdown), so the leader's request-window rules see the cluster's traffic about a second
/// late; once a minute it also drops counts past the window's horizon. Failures (the database
/// down) are logged once per outage; the counts wait in memory for the next attempt.
struct RequestCountService: Service {
    let window: ClusterRequestWindow
    let interval: Duration
    let logger: Logger

    func run() async throws {
        var failing = false, lastPrune = Date.distantPast
        while true {
            let stopping = Task.isShuttingDownGracefully || Task.isCancelled
            let window = self.window, prune = Date().timeIntervalSince(lastPrune) >= 60
            do {
                try await blocking {
                    try window.flush()
                    if prune { try window.prune() }
                }
                if prune { lastPrune = Date() }
                if failing { logger.notice("request counts written again") }
                failing = false
            } catch {
                if !failing { logger.error("cannot write the request counts; retrying", metadata: ["error": "\(error)"]) }
                failing = true
            }
            if stopping { break }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
