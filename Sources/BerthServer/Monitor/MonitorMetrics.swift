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

    /// The last online drift check of one version.
    func setDrift(model: String, version: String, _ r: DriftReport) {
        let labels = [("model", model), ("version", version)]
        gauge("berth_drift_share", "Share of features that drifted in the last online drift check.", labels).set(to: r.driftShare)
        gauge("berth_dataset_drift", "1 when the last online drift check found dataset drift.", labels).set(to: r.datasetDrift ? 1.0 : 0.0)
        for (feature, d) in r.features {
            let l = labels + [("feature", feature)]
            gauge("berth_feature_drift_statistic", "The statistic of a feature's last drift test (a p-value or a distance; see method).",
                  l + [("method", d.method.rawValue)]).set(to: d.pValue ?? d.statistic)
            gauge("berth_feature_drifted", "1 when a feature drifted in the last online drift check.", l).set(to: d.drifted ? 1.0 : 0.0)
        }
        if let d = r.prediction {
            gauge("berth_prediction_drift_statistic", "The statistic of the prediction's last drift test (a p-value or a distance; see method).",
                  labels + [("method", d.method.rawValue)]).set(to: d.pValue ?? d.statistic)
            gauge("berth_prediction_drifted", "1 when the model's answers drifted from its answers on the reference sample.", labels)
                .set(to: d.drifted ? 1.0 : 0.0)
        }
    }

    /// The last label-free estimate of one version.
    func setEstimate(model: String, version: String, _ e: PerformanceEstimate) {
        let labels = [("model", model), ("version", version)]
        for (metric, m) in [("accuracy", e.accuracy), ("f1_macro", e.f1Macro), ("roc_auc", e.rocAUC)] {
            if let v = m.estimated { gauge("berth_estimated_" + metric, "Estimated \(metric) without labels (CBPE) on logged traffic.", labels).set(to: v) }
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
