import Foundation
import Prometheus

/// Why a request failed, as a Prometheus label value.
public enum FailureReason: String, Sendable, CaseIterable {
    case badRequest = "bad_request"
    case notFound = "not_found"
    case notReady = "not_ready"
    case queueFull = "queue_full"
    case tooLarge = "too_large"
    case internalError = "internal"
    case denied = "denied"
    case rateLimited = "rate_limited"
    case timeout = "timeout"
}

/// The server's Prometheus metrics (names documented in docs/metrics.md).
/// Every method is cheap and thread-safe so the request path can call it inline.
public final class ServerMetrics: Sendable {
    /// The `Content-Type` of ``exposition()``: Prometheus text format 0.0.4.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Histogram buckets for request, queue and compute durations in seconds: 100 µs to 10 s.
    public static let durationBuckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    /// Histogram buckets for the rows of one execution (the merged batch size).
    public static let batchRowBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    /// The registry every metric lives in. Other server components may register their own
    /// collectors here; they then appear in ``exposition()`` too.
    public let registry: PrometheusCollectorRegistry

    private let series: ModelSeriesTable
    private let process: ProcessMetrics
    let traffic: TrafficMetrics
    private let replica = Locked<String?>(nil)

    /// The label value that (model, version) pairs beyond `maxSeries` are recorded under.
    public static let overflowLabel = "_other"

    /// Creates the metrics with a fresh registry (or `registry`, to share one).
    /// At most `maxSeries` (model, version) pairs get their own series; later ones are counted
    /// under `model="_other",version="_other"`, so requests naming random models cannot grow the
    /// exposition without bound.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), maxSeries: Int = 1000) {
        self.registry = registry
        self.series = ModelSeriesTable(registry: registry, maxSeries: maxSeries)
        self.process = ProcessMetrics(registry: registry)
        self.traffic = TrafficMetrics(registry: registry)
    }

    /// One finished inference request for `model`/`version`: success or failure with a reason.
    /// `rows` is the batch size the request carried; durations are in seconds.
    public func recordRequest(model: String, version: String, success: Bool, reason: FailureReason?, rows: Int,
                              requestSeconds: Double) {
        let s = series.series(model: model, version: version)
        if success {
            s.success.increment()
            if rows > 0 { s.rows.increment(by: Int64(rows)) }
        } else {
            s.failure(reason ?? .internalError).increment()
        }
        s.requestDuration.record(Self.clampSeconds(requestSeconds))
    }

    /// One execution of the model (a merged batch): `rows` rows, time queued and computing.
    public func recordExecution(model: String, version: String, rows: Int, requests: Int, queueSeconds: Double,
                                computeSeconds: Double) {
        let s = series.series(model: model, version: version)
        s.executions.increment()
        if requests > 0 { s.executionRequests.increment(by: Int64(requests)) }
        s.batchRows.record(Double(max(0, rows)))
        s.queueDuration.record(Self.clampSeconds(queueSeconds))
        s.computeDuration.record(Self.clampSeconds(computeSeconds))
    }

    /// The number of requests waiting in a model's batching queue right now.
    public func setPending(model: String, version: String, count: Int) {
        series.series(model: model, version: version).pending.set(Double(max(0, count)))
    }

    /// Removes every series of `model`/`version` (after the version is unloaded), so the
    /// exposition does not keep reporting a version that no longer exists.
    public func removeSeries(model: String, version: String) {
        series.remove(model: model, version: version)
        traffic.remove(model: model, version: version)
    }

    /// The Prometheus text exposition of every metric, including process memory; with a
    /// ``replicaLabel`` every sample carries it.
    public func exposition() -> String {
        let text = process.withFreshValues { registry.emitToString() }
        guard let replica = replica.withLock({ $0 }) else { return text }
        return Self.labelled(text, name: "replica", value: replica)
    }

    /// The replica id every sample is labelled with (replicas of a shared registry), or nil.
    /// Set once, here, rather than at every metric's call site.
    public var replicaLabel: String? {
        get { replica.withLock { $0 } }
        set { replica.withLock { $0 = newValue } }
    }

    /// `text` (Prometheus text format) with `name="value"` added first to every sample line that
    /// does not carry a label of that name already.
    static func labelled(_ text: String, name: String, value: String) -> String {
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        let pair = "\(name)=\"\(escaped)\""
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.isEmpty || line.hasPrefix("#") { return String(line) }
            if let brace = line.firstIndex(of: "{"), line[..<brace].firstIndex(of: " ") == nil {
                // Metric names hold no `{`: the first one opens the label set.
                let rest = line[line.index(after: brace)...]
                if rest.hasPrefix("\(name)=\"") || rest.contains(",\(name)=\"") { return String(line) }
                return String(line[...brace]) + pair + (rest.hasPrefix("}") ? "" : ",") + String(rest)
            }
            guard let space = line.firstIndex(of: " ") else { return String(line) }
            return String(line[..<space]) + "{" + pair + "}" + String(line[space...])
        }.joined(separator: "\n")
    }

    /// Negative or non-finite durations (a clock oddity) are recorded as 0 so they land in the
    /// first bucket instead of poisoning `_sum`.
    static func clampSeconds(_ s: Double) -> Double { s.isFinite && s > 0 ? s : 0 }
}

// MARK: - Per-model series

/// Metric names, help texts and label names, in one place (mirrored in docs/metrics.md).
enum MetricName {
    static let requests = "berth_inference_requests_total"
    static let rows = "berth_inference_rows_total"
    static let executions = "berth_inference_executions_total"
    static let executionRequests = "berth_inference_execution_requests_total"
    static let pending = "berth_inference_pending_requests"
    static let requestDuration = "berth_inference_request_duration_seconds"
    static let queueDuration = "berth_inference_queue_duration_seconds"
    static let computeDuration = "berth_inference_compute_duration_seconds"
    static let batchRows = "berth_inference_batch_rows"
    static let residentMemory = "process_resident_memory_bytes"
    static let virtualMemory = "process_virtual_memory_bytes"
    static let startTime = "process_start_time_seconds"
    static let cpuSeconds = "process_cpu_seconds_total"
    static let openFDs = "process_open_fds"

    /// Builds a descriptor whose `name` is exactly `full` (the registry joins the parts with `_`).
    static func descriptor(_ full: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: full, unitName: "", helpText: help)
    }
}

/// The collectors of one (model, version), created together on first use.
final class ModelSeries: Sendable {
    let labels: [(String, String)]
    let success: Counter
    let rows: Counter
    let executions: Counter
    let executionRequests: Counter
    let pending: Gauge
    let requestDuration: ValueHistogram
    let queueDuration: ValueHistogram
    let computeDuration: ValueHistogram
    let batchRows: ValueHistogram
    /// Failure counters, one per reason, created up front so lookups never lock.
    private let failures: [FailureReason: Counter]
    private let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry, model: String, version: String) {
        self.registry = registry
        let labels = [("model", model), ("version", version)]
        self.labels = labels
        func requests(_ outcome: String, _ reason: String) -> Counter {
            registry.makeCounter(
                descriptor: MetricName.descriptor(
                    MetricName.requests,
                    "Finished inference requests by outcome (success, failure) and failure reason."),
                labels: labels + [("outcome", outcome), ("reason", reason)])
        }
        success = requests("success", "")
        var failures: [FailureReason: Counter] = [:]
        for reason in FailureReason.allReasons { failures[reason] = requests("failure", reason.rawValue) }
        self.failures = failures
        rows = registry.makeCounter(
            descriptor: MetricName.descriptor(MetricName.rows, "Rows (batch entries) of successful inference requests."),
            labels: labels)
        executions = registry.makeCounter(
            descriptor: MetricName.descriptor(MetricName.executions, "Model executions (merged batches)."),
            labels: labels)
        executionRequests = registry.makeCounter(
            descriptor: MetricName.descriptor(MetricName.executionRequests,
                                              "Requests merged into model executions."),
            labels: labels)
        pending = registry.makeGauge(
            descriptor: MetricName.descriptor(MetricName.pending, "Requests waiting in the batching queue."),
            labels: labels)
        func seconds(_ name: String, _ help: String) -> ValueHistogram {
            registry.makeValueHistogram(descriptor: MetricName.descriptor(name, help), labels: labels,
                                        buckets: ServerMetrics.durationBuckets)
        }
        requestDuration = seconds(MetricName.requestDuration,
                                  "Inference request latency in seconds, from receipt to response.")
        queueDuration = seconds(MetricName.queueDuration,
                                "Seconds a batch waited in the queue before execution.")
        computeDuration = seconds(MetricName.computeDuration, "Seconds spent running the model per execution.")
        batchRows = registry.makeValueHistogram(
            descriptor: MetricName.descriptor(MetricName.batchRows, "Rows per model execution."),
            labels: labels, buckets: ServerMetrics.batchRowBuckets)
    }

    func failure(_ reason: FailureReason) -> Counter { failures[reason]! }

    /// Unregisters every collector of this series.
    func unregister() {
        for c in [success, rows, executions, executionRequests] + Array(failures.values) {
            registry.unregisterCounter(c)
        }
        registry.unregisterGauge(pending)
        for h in [requestDuration, queueDuration, computeDuration, batchRows] {
            registry.unregisterValueHistogram(h)
        }
    }
}

extension FailureReason {
    /// Every reason, so failure series exist (at 0) from a model's first request on. Derived from
    /// the cases, so a new reason can never miss its counter.
    static let allReasons = FailureReason.allCases
}

/// (model, version) → ``ModelSeries``, behind a lock. A lookup is one hash under the lock;
/// the collectors themselves are atomics, so recording never holds it.
final class ModelSeriesTable: @unchecked Sendable {
    private struct Key: Hashable {
        var model: String
        var version: String
    }

    private let registry: PrometheusCollectorRegistry
    private let maxSeries: Int
    private let lock = NSLock()
    private var table: [Key: ModelSeries] = [:]
    private var overflow: ModelSeries?

    init(registry: PrometheusCollectorRegistry, maxSeries: Int) {
        self.registry = registry
        self.maxSeries = max(0, maxSeries)
    }

    func series(model: String, version: String) -> ModelSeries {
        let key = Key(model: model, version: version)
        lock.lock()
        defer { lock.unlock() }
        if let s = table[key] { return s }
        guard table.count < maxSeries else {
            if let o = overflow { return o }
            let o = ModelSeries(registry: registry, model: ServerMetrics.overflowLabel,
                                version: ServerMetrics.overflowLabel)
            overflow = o
            return o
        }
        let s = ModelSeries(registry: registry, model: model, version: version)
        table[key] = s
        return s
    }

    func remove(model: String, version: String) {
        lock.lock()
        let s = table.removeValue(forKey: Key(model: model, version: version))
        lock.unlock()
        s?.unregister()
    }
}
