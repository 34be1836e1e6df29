import Prometheus

/// Metrics of registry traffic splits: which side answered each request, and how a shadow's
/// answers compare with production's (names in docs/metrics.md).
final class TrafficMetrics: Sendable {
    static let routed = "berth_routed_requests_total"
    static let shadowRequests = "berth_shadow_requests_total"
    static let shadowDiff = "berth_shadow_max_abs_diff"
    /// Buckets for the largest absolute output difference of one mirrored request.
    static let diffBuckets: [Double] = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10]

    private let registry: PrometheusCollectorRegistry
    private let counters = Locked<[[String]: Counter]>([:])
    private let histograms = Locked<[[String]: ValueHistogram]>([:])

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// A request answered by `version` of `model` on `side` (production, canary, version).
    func recordRoute(model: String, version: String, side: String) {
        counter(Self.routed, "Inference requests of registry models by the side of the traffic split that answered.",
                [("model", model), ("version", version), ("route", side)]).increment()
    }

    /// A request mirrored to shadow `version`: agree, disagree, error or dropped, and the largest
    /// absolute difference of its float outputs (when compared).
    func recordShadow(model: String, version: String, outcome: ShadowOutcome, maxAbsDiff: Double?) {
        counter(Self.shadowRequests, "Requests mirrored to a shadow version, by how its answer compared with production's.",
                [("model", model), ("version", version), ("outcome", outcome.rawValue)]).increment()
        if let maxAbsDiff {
            let key = [model, version]
            let h = histograms.withLock { table -> ValueHistogram in
                if let h = table[key] { return h }
                let h = registry.makeValueHistogram(
                    descriptor: MetricName.descriptor(Self.shadowDiff, "Largest absolute difference between shadow and production float outputs per mirrored request."),
                    labels: [("model", model), ("version", version)], buckets: Self.diffBuckets)
                table[key] = h
                return h
            }
            h.record(maxAbsDiff.isFinite ? maxAbsDiff : Double.greatestFiniteMagnitude)
        }
    }

    /// Drops every series of an unloaded version.
    func remove(model: String, version: String) {
        let goneCounters = counters.withLock { table -> [Counter] in
            let keys = table.keys.filter { $0.count > 2 && $0[1] == model && $0[2] == version }
            return keys.compactMap { table.removeValue(forKey: $0) }
        }
        for c in goneCounters { registry.unregisterCounter(c) }
        if let h = histograms.withLock({ $0.removeValue(forKey: [model, version]) }) { registry.unregisterValueHistogram(h) }
    }

    private func counter(_ name: String, _ help: String, _ labels: [(String, String)]) -> Counter {
        let key = [name] + labels.map(\.1)
        return counters.withLock { table in
            if let c = table[key] { return c }
            let c = registry.makeCounter(descriptor: MetricName.descriptor(name, help), labels: labels)
            table[key] = c
            return c
        }
    }
}

/// How a mirrored request's answer compared.
enum ShadowOutcome: String, Sendable {
    case agree, disagree, error, dropped
}
