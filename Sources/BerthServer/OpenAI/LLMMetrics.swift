import BerthGenerate
import Foundation
import Prometheus

/// Prometheus metrics of language-model requests, named after vLLM's (`vllm:<name>` →
/// `berth_llm_<name>`, label `model_name`): time to first token, inter-token latency, end-to-end
/// latency, prompt and generation token counts, finished requests by reason, and the running /
/// waiting sequences and KV cache use of each model's engine.
final class LLMMetrics: Sendable {
    static let latencyBuckets: [Double] = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    private func histogram(_ name: String, _ help: String, _ model: String) -> ValueHistogram {
        registry.makeValueHistogram(descriptor: MetricName.descriptor("berth_llm_" + name, help), labels: [("model_name", model)],
                                    buckets: Self.latencyBuckets)
    }
    private func counter(_ name: String, _ help: String, _ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: MetricName.descriptor("berth_llm_" + name, help), labels: labels)
    }
    private func gauge(_ name: String, _ help: String, _ model: String) -> Gauge {
        registry.makeGauge(descriptor: MetricName.descriptor("berth_llm_" + name, help), labels: [("model_name", model)])
    }

    /// A request to a registry language model, by the version and side of the split that answered it.
    func routed(model: String, version: Int?, side: TrafficRoute.Side?) {
        guard let side, let version else { return }
        counter("routed_requests_total", "Requests to registry language models by the side of the traffic split that answered.",
                [("model_name", model), ("version", String(version)), ("route", side.rawValue)]).increment()
    }

    /// A generation mirrored to a shadow version ended: `agree`, `disagree` or `error`.
    func shadow(model: String, version: Int?, outcome: String) {
        counter("shadow_requests_total", "Generations mirrored to a shadow version, by whether its text equalled production's.",
                [("model_name", model), ("version", version.map(String.init) ?? ""), ("outcome", outcome)]).increment()
    }

    /// A recorder for one request to `model`.
    func request(_ model: LLMServable) -> Recorder { Recorder(metrics: self, model: model) }

    /// Times one request's tokens and records its end.
    struct Recorder {
        let metrics: LLMMetrics
        let model: LLMServable
        var last = Date()

        /// A token arrived.
        mutating func token() {
            let now = Date()
            metrics.histogram("inter_token_latency_seconds", "Time between successive output tokens of a request.", model.name)
                .record(now.timeIntervalSince(last))
            last = now
        }

        /// The request ended.
        func finish(_ s: GenerationSummary) {
            let name = model.name
            if let t = s.timeToFirstToken {
                metrics.histogram("time_to_first_token_seconds", "Time from request arrival to its first output token.", name).record(t)
            }
            metrics.histogram("e2e_request_latency_seconds", "Time from request arrival to its last output token.", name).record(s.totalTime)
            metrics.counter("prompt_tokens_total", "Prompt tokens processed.", [("model_name", name)]).increment(by: Int64(s.promptTokens))
            metrics.counter("generation_tokens_total", "Tokens generated.", [("model_name", name)]).increment(by: Int64(s.completionTokens))
            metrics.counter("request_success_total", "Finished requests by finish reason.", [("model_name", name), ("finished_reason", s.reason.rawValue)])
                .increment()
            let st = model.engine.stats
            metrics.gauge("num_requests_running", "Sequences in the engine's running batch.", name).set(Double(st.running))
            metrics.gauge("num_requests_waiting", "Sequences waiting for KV cache room.", name).set(Double(st.waiting))
            metrics.gauge("kv_cache_usage_perc", "Fraction of the KV cache blocks in use (0…1).", name).set(st.kvCacheUsage)
            // Cumulative block counts; hits / queries is the prefix cache hit rate.
            metrics.gauge("prefix_cache_queries", "Prompt KV blocks looked up in the prefix cache since start.", name).set(Double(st.prefixQueries))
            metrics.gauge("prefix_cache_hits", "Prompt KV blocks found in the prefix cache since start.", name).set(Double(st.prefixHits))
        }
    }
}
