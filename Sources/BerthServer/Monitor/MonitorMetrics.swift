import BerthMonitor
import Prometheus

/// Gauges of live model quality and alert state (names in docs/metrics.md).
final class MonitorMetrics: Sendable {
    static let live = "berth_live_"
    static let alertFiring = "berth_alert_firing"

    private let registry: PrometheusCollectorRegistry
    private let gauges = Locked<[[String]: Gauge]>([:])

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// The realized metrics of one version (only those it has).
    func setPerformance(model: String, version: String, _ p: RealizedPerformance) {
        let labels = [("model", model), ("version", version)]
        gauge(Self.live + "labelled_rows", "Labelled rows behind the live metrics of a version.", labels).set(to: Double(p.samples))
        for (metric, help) in [("accuracy", "Accuracy on labelled traffic (feedback)."), ("f1_macro", "Macro F1 on labelled traffic."),
                               ("roc_auc", "Binary ROC-AUC on labelled traffic."), ("rmse", "RMSE on labelled traffic."),
                               ("mae", "MAE on labelled traffic.")] {
            if let v = p.value(metric) { gauge(Self.live + metric, help, labels).set(to: v) }
        }
    }

    /// 1 while `rule` fires, else 0.
    func setFiring(rule: String, model: String, firing: Bool) {
        gauge(Self.alertFiring, "1 while an alert rule fires.", [("rule", rule), ("model", model)]).set(to: firing ? 1.0 : 0.0)
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)]) -> Gauge {
        let key = [name] + labels.map(\.1)
        return gauges.withLock { table in
            if let g = table[key] { return g }
            let g = registry.makeGauge(descriptor: MetricName.descriptor(name, help), labels: labels)
            table[key] = g
            return g
        }
    }
}
