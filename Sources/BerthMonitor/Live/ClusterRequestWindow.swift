import Foundation

/// Where replicas keep their per-second request counts (the PostgreSQL store in BerthServer).
public protocol RequestCountStore: Sendable {
    /// Adds `counts`, counted by `replica`.
    func write(_ counts: [RequestCounts], replica: String) throws
    /// The counts of `model` summed over every replica, for the seconds from `from` (inclusive):
    /// requests, failures and the latency histogram.
    func total(model: String, from second: Int64) throws -> RequestCounts
    /// Forgets the counts of seconds before `second`.
    func prune(before second: Int64) throws
}

/// The request window of a cluster: this replica's requests are counted per model and second
/// in memory (the request path only adds to a dictionary), ``flush(now:)`` writes them to the
/// shared store, and the leader's ``summary(model:seconds:now:)`` sums every replica's counts.
public final class ClusterRequestWindow: @unchecked Sendable {
    // @unchecked: `pending` is guarded by `lock`; the rest is immutable.
    public let store: any RequestCountStore
    /// The replica written beside the counts.
    public let replica: String
    /// Seconds kept, in memory while the store is unreachable and in the store.
    public let horizon: TimeInterval
    private let lock = NSLock()
    private var pending: [String: RequestCounts] = [:]

    public init(store: any RequestCountStore, replica: String, horizon: TimeInterval = 3600) {
        self.store = store
        self.replica = replica
        self.horizon = horizon
    }

    /// Counts one finished request of `model`.
    public func record(model: String, latencyMs: Double, failed: Bool, at time: Date = Date()) {
        let second = Int64(time.timeIntervalSince1970.rounded(.down))
        let bucket = failed ? nil : LatencyBuckets.index(ms: latencyMs)
        lock.withLock {
            let key = "\(second) \(model)"
            if pending[key] == nil { pending[key] = RequestCounts(model: model, second: second) }
            pending[key]!.requests += 1
            if let bucket { pending[key]!.latency[bucket, default: 0] += 1 } else { pending[key]!.failures += 1 }
        }
    }

    /// Writes the counts gathered since the last flush. When the store fails they are kept for
    /// the next attempt (those older than ``horizon`` dropped) and the error is thrown.
    public func flush(now: Date = Date()) throws {
        let batch = lock.withLock { () -> [RequestCounts] in defer { pending.removeAll() }; return Array(pending.values) }
        guard !batch.isEmpty else { return }
        do { try store.write(batch, replica: replica) } catch {
            let oldest = Int64(now.timeIntervalSince1970 - horizon)
            lock.withLock {
                for c in batch where c.second >= oldest { pending["\(c.second) \(c.model)", default: RequestCounts(model: c.model, second: c.second)].merge(c) }
            }
            throw error
        }
    }

    /// Forgets stored counts older than ``horizon``.
    public func prune(now: Date = Date()) throws {
        try store.prune(before: Int64(now.timeIntervalSince1970 - horizon))
    }

    /// The cluster's requests of `model` in the last `seconds` (whole seconds: those that started
    /// in the window), as written by every replica's last flush.
    public func summary(model: String, seconds: TimeInterval, now: Date = Date()) throws -> RequestWindow.Summary {
        let from = Int64((now.timeIntervalSince1970 - seconds).rounded(.down))
        let t = try store.total(model: model, from: from)
        return RequestCounts.summary(requests: t.requests, failures: t.failures, latency: t.latency, seconds: seconds)
    }
}
