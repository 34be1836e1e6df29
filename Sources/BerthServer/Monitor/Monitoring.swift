import BerthMonitor
import Foundation
import Prometheus

/// The server's monitoring state: the prediction log (when enabled), the recent-request window
/// and the alert rules with their trackers. Fed by ``MonitorObserver`` on the request path, read
/// by the monitor routes, and acted on by ``AlertService``.
public final class Monitoring: Sendable {
    /// Sampled requests and their feedback; nil when `--prediction-log-sample` is 0.
    public let log: PredictionLog?
    /// Every recent request's latency and outcome, per model.
    public let window: RequestWindow
    /// Labelled rows the live-metric gauges cover.
    public let gaugeWindow: Int
    let trackers: Locked<[AlertTracker]>
    let metrics: MonitorMetrics

    /// Monitoring with an optional prediction log and alert rules; gauges go to `registry`.
    public init(log: PredictionLog?, rules: [AlertRule], registry: PrometheusCollectorRegistry, gaugeWindow: Int = 500) {
        self.log = log
        self.window = RequestWindow()
        self.gaugeWindow = gaugeWindow
        self.trackers = Locked(rules.map { AlertTracker(rule: $0) })
        self.metrics = MonitorMetrics(registry: registry)
        for r in rules { metrics.setFiring(rule: r.name, model: r.model, firing: false) }
    }

    /// The observer that logs requests and feeds the window.
    var observer: any InferenceObserver { MonitorObserver(monitoring: self) }

    /// The alert rules and their states.
    public var alerts: [AlertTracker] { trackers.withLock { $0 } }

    /// Realized metrics of `model`'s `version` over its newest `window` labelled rows.
    public func performance(model: String, version: String, window: Int) throws -> RealizedPerformance? {
        guard let log else { return nil }
        return RealizedPerformance.compute(try log.labelled(model: model, version: version, rows: window), window: window)
    }

    /// Recomputes the live gauges of `model`'s logged versions (after feedback).
    func refreshGauges(model: String) {
        guard let log, let versions = try? log.versions(of: model) else { return }
        for v in versions {
            if let p = try? performance(model: model, version: v, window: gaugeWindow) {
                metrics.setPerformance(model: model, version: v, p)
            }
        }
    }
}
