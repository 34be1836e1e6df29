import Foundation

/// The recent requests of every model (time, latency, success), for rules on error rate,
/// latency percentiles and request rate. Memory is bounded: entries older than `horizon` go,
/// and at most `capacity` per model are kept.
public final class RequestWindow: @unchecked Sendable {
    // @unchecked: `entries` is guarded by `lock`.
    struct Entry { var time: TimeInterval; var latencyMs: Double; var failed: Bool }

    /// Oldest entries kept, in seconds.
    public let horizon: TimeInterval
    /// Entries kept per model at most.
    public let capacity: Int
    private let lock = NSLock()
    private var entries: [String: [Entry]] = [:]

    /// A window keeping `horizon` seconds, at most `capacity` requests per model.
    public init(horizon: TimeInterval = 3600, capacity: Int = 100_000) {
        self.horizon = horizon
        self.capacity = capacity
    }

    /// Records one finished request of `model`.
    public func record(model: String, latencyMs: Double, failed: Bool, at time: Date = Date()) {
        let t = time.timeIntervalSince1970
        lock.withLock {
            // Mutated in place through the dictionary: a copy out and back would copy the whole
            // list (up to `capacity` entries) on every request.
            entries[model, default: []].append(Entry(time: t, latencyMs: latencyMs, failed: failed))
            // Trim in chunks so appends stay amortised O(1).
            let count = entries[model]!.count
            if count > capacity + capacity / 8 { entries[model]!.removeFirst(count - capacity) }
            if let first = entries[model]!.first, first.time < t - horizon - 60 { entries[model]!.removeAll { $0.time < t - horizon } }
        }
    }

    /// Statistics of `model`'s requests in the last `seconds`.
    public struct Summary: Sendable, Equatable {
        public var requests: Int
        public var failures: Int
        public var errorRate: Double?
        public var requestRate: Double
        public var p50LatencyMs: Double?
        public var p99LatencyMs: Double?
    }

    /// The summary over the last `seconds` ending at `now`.
    public func summary(model: String, seconds: TimeInterval, now: Date = Date()) -> Summary {
        let from = now.timeIntervalSince1970 - seconds
        let recent = lock.withLock { (entries[model] ?? []).filter { $0.time >= from } }
        let failures = recent.filter(\.failed).count
        let latencies = recent.filter { !$0.failed }.map(\.latencyMs).sorted()
        func quantile(_ q: Double) -> Double? {
            // Nearest rank, as Prometheus-style summaries report it.
            guard !latencies.isEmpty else { return nil }
            let rank = Int((q * Double(latencies.count)).rounded(.up))
            return latencies[min(max(rank - 1, 0), latencies.count - 1)]
        }
        return Summary(requests: recent.count, failures: failures,
                       errorRate: recent.isEmpty ? nil : Double(failures) / Double(recent.count),
                       requestRate: Double(recent.count) / max(seconds, 1e-9),
                       p50LatencyMs: quantile(0.5), p99LatencyMs: quantile(0.99))
    }

    /// Per-bucket request counts, failures and latency percentiles of `model`: `count` buckets of
    /// `bucket` seconds ending at `now`, oldest first (the dashboard's time series).
    public struct Series: Sendable, Equatable, Encodable {
        /// Each bucket's end, in seconds since 1970.
        public var time: [Double]
        /// Requests per second in the bucket.
        public var requestRate: [Double]
        /// Failed requests per second.
        public var errorRate: [Double]
        /// Latency percentiles of the bucket's successful requests (nil without any).
        public var p50LatencyMs: [Double?]
        public var p99LatencyMs: [Double?]

        enum CodingKeys: String, CodingKey {
            case time, requestRate = "request_rate", errorRate = "error_rate"
            case p50LatencyMs = "p50_latency_ms", p99LatencyMs = "p99_latency_ms"
        }
    }

    /// See ``Series``.
    public func series(model: String, bucket: TimeInterval, count: Int, now: Date = Date()) -> Series {
        let end = now.timeIntervalSince1970, start = end - bucket * Double(count)
        let recent = lock.withLock { (entries[model] ?? []).filter { $0.time > start && $0.time <= end } }
        var buckets = [[Entry]](repeating: [], count: count)
        for e in recent { buckets[min(count - 1, max(0, Int((e.time - start) / bucket)))].append(e) }
        var out = Series(time: [], requestRate: [], errorRate: [], p50LatencyMs: [], p99LatencyMs: [])
        for (i, b) in buckets.enumerated() {
            out.time.append(start + bucket * Double(i + 1))
            out.requestRate.append(Double(b.count) / bucket)
            out.errorRate.append(Double(b.filter(\.failed).count) / bucket)
            let l = b.filter { !$0.failed }.map(\.latencyMs).sorted()
            func q(_ p: Double) -> Double? { l.isEmpty ? nil : l[min(max(Int((p * Double(l.count)).rounded(.up)) - 1, 0), l.count - 1)] }
            out.p50LatencyMs.append(q(0.5))
            out.p99LatencyMs.append(q(0.99))
        }
        return out
    }
}
