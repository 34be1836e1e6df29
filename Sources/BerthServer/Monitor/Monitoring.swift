import BerthEngine
import BerthEval
import BerthMonitor
import Foundation
import Prometheus

/// The server's monitoring state: the prediction log (when enabled), the recent-request window
/// and the alert rules with their trackers. Fed by ``MonitorObserver`` on the request path, read
/// by the monitor routes, and acted on by ``AlertService``.
public final class Monitoring: Sendable {
    /// Sampled requests and their feedback; nil when `--prediction-log-sample` is 0.
    public let log: PredictionLog?
    /// Reference samples per version (files in the data directory, or the replicas' database).
    public let references: (any ReferenceSampleStore)?
    /// Every recent request's latency and outcome, per model.
    public let window: RequestWindow
    /// Labelled rows the live-metric gauges cover.
    public let gaugeWindow: Int
    let trackers: Locked<[AlertTracker]>
    let metrics: MonitorMetrics
    /// The rules' states and history: in memory, or shared by replicas (only the leader evaluates).
    public let alertStore: any AlertStateStore
    /// This replica's id, written beside the alert states it writes.
    public let replica: String
    /// With replicas sharing a PostgreSQL registry and request-window rules: every replica's
    /// request counts, which the leader's rules read instead of its own ``window``.
    public let clusterWindow: ClusterRequestWindow?

    /// Monitoring with an optional prediction log and alert rules; gauges go to `registry`.
    public init(log: PredictionLog?, references: (any ReferenceSampleStore)?, rules: [AlertRule], registry: PrometheusCollectorRegistry,
                gaugeWindow: Int = 500, alertStore: any AlertStateStore = MemoryAlertStateStore(), replica: String = "",
                clusterWindow: ClusterRequestWindow? = nil) {
        self.log = log
        self.references = references
        self.alertStore = alertStore
        self.replica = replica
        self.clusterWindow = clusterWindow
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

    /// The version's reference sample; a 404-style error when none was stored.
    func reference(model: String, version: String) throws -> (table: Table, info: ReferenceInfo) {
        guard let references else { throw ServerError.badRequest("the prediction log is off; serve with --prediction-log-sample RATE") }
        guard let ref = try references.get(model: model, version: version) else {
            throw ServerError.notFound("model '\(model)' version \(version) has no reference sample; store one with PUT /api/v1/models/\(model)/versions/\(version)/reference (a CSV) or berth registry push --reference-data")
        }
        return ref
    }

    /// The newest `window` logged rows of `model`'s `version` under the reference's feature names.
    func liveTable(model: String, version: String, window: Int, reference: ReferenceInfo) throws -> Table {
        try Self.table(try recentRecords(model: model, version: version, window: window), reference: reference)
    }

    /// Logged records as a table under the reference's feature names (a mismatch is the caller's 400).
    static func table(_ records: [LoggedPrediction], reference: ReferenceInfo) throws -> Table {
        do { return try LiveTable.build(records, reference: reference) } catch { throw ServerError.badRequest("\(error)") }
    }

    /// The newest logged records covering `window` rows, oldest first.
    func recentRecords(model: String, version: String, window: Int) throws -> [LoggedPrediction] {
        guard let log else { throw ServerError.badRequest("the prediction log is off; serve with --prediction-log-sample RATE") }
        return try log.recent(model: model, version: version, rows: window).reversed()
    }

    /// Drift of the version's newest `window` logged rows against its reference sample, with
    /// `berth drift`'s defaults; also the number of current rows. Given the served `session`, the
    /// prediction is tested too: the model's answers on the reference sample against the logged
    /// answers (the class, or the value of a regression).
    func drift(model: String, version: String, window: Int, session: Session? = nil) throws -> (report: DriftReport, rows: Int) {
        let ref = try reference(model: model, version: version)
        let records = try recentRecords(model: model, version: version, window: window)
        let current = try Self.table(records, reference: ref.info)
        guard current.rowCount > 0 else { throw ServerError.badRequest("model '\(model)' version \(version) has no logged traffic yet") }
        let referenceFeatures = ref.info.label.map { ref.table.removing($0) } ?? ref.table
        do {
            let data = try DriftData(reference: referenceFeatures, current: current)
            let prediction = try session.flatMap { try Self.predictionColumn($0, reference: referenceFeatures, logged: records) }
            let report = try DriftDetector().report(features: data.features, prediction: prediction)
            metrics.setDrift(model: model, version: version, report)
            return (report, current.rowCount)
        } catch let e as ServerError { throw e } catch { throw ServerError.badRequest("\(error)") }
    }

    /// The prediction column: what `session` answers on the reference rows against what the
    /// logged requests were answered, both read as the log reads outcomes. Nil when the model's
    /// outputs are neither classes nor values (e.g. an embedding).
    static func predictionColumn(_ session: Session, reference: Table, logged: [LoggedPrediction]) throws -> FeatureColumn? {
        func texts(_ o: RowOutcome) -> [String]? {
            switch o {
            case let .classes(labels, _): return labels.map(\.description)
            case let .values(v): return v.map { "\($0)" }
            case .unknown: return nil
            }
        }
        let outputs = try Evaluator(session: session).run(Dataset(features: reference), batchSize: 256)
        let ordered = session.outputs.compactMap { o in outputs[o.name].map { (name: o.name, tensor: $0) } }
        guard let referenceText = texts(RowOutcome.read(ordered)), !referenceText.isEmpty else { return nil }
        var currentText: [String] = []
        for r in logged {
            guard let t = texts(r.outcome) else { return nil }
            currentText += t
        }
        guard !currentText.isEmpty else { return nil }
        return try FeatureColumn(reference: Column(name: "prediction", text: referenceText), current: Column(name: "prediction", text: currentText),
                                 referenceSource: "the model's answers on the reference sample", currentSource: "the logged answers")
    }

    /// CBPE estimate (accuracy, macro F1, ROC-AUC) of the version's newest `window` logged rows,
    /// calibrated on its labelled reference sample and run through `session` (the served model).
    func estimate(model: String, version: String, window: Int, session: Session) throws -> PerformanceEstimate {
        let ref = try reference(model: model, version: version)
        guard let label = ref.info.label else {
            throw ServerError.badRequest("the reference sample of '\(model)' version \(version) has no label column; store it with ?label=COLUMN to estimate performance")
        }
        let current = try liveTable(model: model, version: version, window: window, reference: ref.info)
        guard current.rowCount > 0 else { throw ServerError.badRequest("model '\(model)' version \(version) has no logged traffic yet") }
        do {
            let estimate = try PerformanceEstimator(evaluator: Evaluator(session: session), labelColumn: label)
                .estimate(reference: ref.table, analysis: current)
            metrics.setEstimate(model: model, version: version, estimate)
            return estimate
        } catch { throw ServerError.badRequest("\(error)") }
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
