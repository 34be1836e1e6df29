import Foundation

/// One replica's requests of one model in one second: what replicas share so that the leader
/// evaluates request-window rules (error rate, latency percentiles, request rate) over the
/// traffic of the whole cluster, not only its own.
public struct RequestCounts: Sendable, Equatable {
    public var model: String
    /// The second's start, in whole seconds since 1970.
    public var second: Int64
    public var requests: Int
    public var failures: Int
    /// Successful requests per ``LatencyBuckets`` bucket (only buckets that have some).
    public var latency: [Int: Int]

    public init(model: String, second: Int64, requests: Int = 0, failures: Int = 0, latency: [Int: Int] = [:]) {
        self.model = model
        self.second = second
        self.requests = requests
        self.failures = failures
        self.latency = latency
    }

    /// Adds `other`'s counts (same model and second).
    public mutating func merge(_ other: RequestCounts) {
        requests += other.requests
        failures += other.failures
        latency.merge(other.latency, uniquingKeysWith: +)
    }

    /// The window's summary from summed counts: rates over `seconds`, percentiles by nearest rank
    /// (as ``RequestWindow/summary(model:seconds:now:)``) read from the latency histogram, so
    /// they are within half a bucket (±2.2 %) of the exact value.
    public static func summary(requests: Int, failures: Int, latency: [Int: Int], seconds: TimeInterval) -> RequestWindow.Summary {
        let ordered = latency.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        let successes = ordered.reduce(0) { $0 + $1.value }
        func quantile(_ q: Double) -> Double? {
            guard successes > 0 else { return nil }
            let rank = min(max(Int((q * Double(successes)).rounded(.up)), 1), successes)
            var seen = 0
            for (bucket, n) in ordered {
                seen += n
                if seen >= rank { return LatencyBuckets.midpointMs(bucket) }
            }
            return nil
        }
        return RequestWindow.Summary(requests: requests, failures: failures,
                                     errorRate: requests == 0 ? nil : Double(failures) / Double(requests),
                                     requestRate: Double(requests) / max(seconds, 1e-9),
                                     p50LatencyMs: quantile(0.5), p99LatencyMs: quantile(0.99))
    }
}

/// Latencies as logarithmic buckets that replicas can add up: 16 per doubling from 1 µs, so a
/// bucket's midpoint is within 2.2 % of any latency in it.
public enum LatencyBuckets {
    static let perDoubling = 16.0
    /// The last bucket (about 2^40 µs, 12 days); longer latencies count in it.
    public static let last = 40 * 16

    /// The bucket of a latency in milliseconds.
    public static func index(ms: Double) -> Int {
        guard ms > 0.001 else { return 0 }  // NaN too
        guard ms.isFinite else { return last }
        return min(last, Int((log2(ms * 1000) * perDoubling).rounded(.down)))
    }

    /// The geometric middle of a bucket, in milliseconds.
    public static func midpointMs(_ bucket: Int) -> Double {
        pow(2, (Double(bucket) + 0.5) / perDoubling) / 1000
    }
}

extension RuleCondition.Metric {
    /// Read from the recent-request window (a duration), not from the prediction log.
    public var isRequestWindow: Bool { !needsLog }
}
