import BerthMonitor
import BerthRegistry
import Foundation
import Hummingbird

/// Monitoring under `/api/v1`: feedback (ground truth joined to logged predictions), realized
/// performance per version, and alert states. Mounted in every serving mode.
struct MonitorRoutes: Sendable {
    let monitoring: Monitoring
    let manager: ModelManager
    /// The registry of a `--registry` server, which knows every version (served or not).
    let registry: (any Registry)?

    /// Largest feedback body, and items in it.
    static let feedbackLimit = 8 << 20
    static let maxFeedbackItems = 100_000
    /// Labelled rows a performance window covers by default, and at most.
    static let defaultWindow = 500
    static let maxWindow = 1_000_000

    struct FeedbackBody: Decodable { var feedback: [Feedback] }

    struct VersionPerformance: Encodable {
        var version: String
        var realized: RealizedPerformance?
        var estimated: [String: Double]?
        var estimatedReason: String?

        init(version: String, realized: RealizedPerformance?) {
            self.version = version
            self.realized = realized
        }

        enum CodingKeys: String, CodingKey {
            case version, realized, estimated
            case estimatedReason = "estimated_reason"
        }
    }

    struct PerformanceBody: Encodable {
        var model: String
        var window: Int
        var versions: [VersionPerformance]
    }

    struct AlertEntry: Encodable {
        var name: String
        var model: String
        var when: String
        var actions: [String]
        var status: AlertStatus
    }

    struct AlertsBody: Encodable {
        var alerts: [AlertEntry]
        /// The newest firings and resolutions, newest first (the cluster's, with a shared registry).
        var history: [AlertEvent]
    }

    /// Events of the alert history shown at most.
    static let alertHistoryLimit = 100

    /// Feedback: sent by the clients that infer, so it stays on the inference listener.
    func registerFeedback(on router: Router<BerthRequestContext>) {
        router.group("/api/v1").post("models/:name/feedback") { req, ctx in try await feedback(req, model: try ctx.parameters.require("name")) }
    }

    /// Everything else: reads and reference data (the admin listener when there is one).
    func register(on router: Router<BerthRequestContext>) {
        let api = router.group("/api/v1")
        api.get("models/:name/performance") { req, ctx in try performance(req, model: try ctx.parameters.require("name")) }
        api.put("models/:name/versions/:ref/reference") { req, ctx in
            try await putReference(req, model: try ctx.parameters.require("name"), ref: try ctx.parameters.require("ref"))
        }
        api.get("models/:name/versions/:ref/reference") { _, ctx in
            let model = try ctx.parameters.require("name")
            let version = try resolve(model, try ctx.parameters.require("ref"))
            return try Response.json(try monitoring.reference(model: model, version: version).info)
        }
        api.get("models/:name/drift") { req, ctx in try drift(req, model: try ctx.parameters.require("name")) }
        api.get("alerts") { _, ctx in
            let store = monitoring.alertStore
            let history = try await blocking { try store.history(limit: Self.alertHistoryLimit) }
            return try Response.json(AlertsBody(alerts: monitoring.alerts.filter { ctx.maySee($0.rule.model) }.map {
                AlertEntry(name: $0.rule.name, model: $0.rule.model, when: $0.rule.condition.description,
                           actions: $0.rule.actions.map(\.rawValue), status: $0.status)
            }, history: history.filter { ctx.maySee($0.model) }))
        }
    }

    func requireLog() throws -> PredictionLog {
        guard let log = monitoring.log else {
            throw ServerError.badRequest("the prediction log is off; serve with --prediction-log-sample RATE to join feedback")
        }
        return log
    }

    /// 404 for a model that is neither served nor in the log.
    func requireKnown(_ model: String, _ log: PredictionLog) throws {
        guard try manager.modelNames().contains(model) || !log.versions(of: model).isEmpty else {
            throw ServerError.modelNotFound(model)
        }
    }

    /// The version number `ref` names (a number, or a registry alias); 404 when the model has no such version.
    func resolve(_ model: String, _ ref: String) throws -> String {
        if let registry {
            do { return String(try registry.version(model, VersionRef(ref)).version) } catch let e as RegistryError { throw ServerError.registry(e) }
        }
        guard let versions = manager.listedVersions(of: model) else { throw ServerError.modelNotFound(model) }
        guard let v = Int(ref), versions.contains(v) else { throw ServerError.versionNotFound(model: model, version: ref) }
        return String(v)
    }

    /// The version monitoring looks at when none is named: production, else the newest ready one.
    func watched(_ model: String, _ named: String?) throws -> String {
        if let named { return try resolve(model, named) }
        if let primary = manager.route(of: model)?.primary { return String(primary) }
        guard let newest = try manager.readyVersions(model: model).max() else { throw ServerError.modelNotFound(model) }
        return String(newest)
    }

    /// `PUT /api/v1/models/{name}/versions/{v}/reference[?label=COLUMN]` with a CSV body.
    func putReference(_ req: Request, model: String, ref: String) async throws -> Response {
        guard let store = monitoring.references else {
            throw ServerError.badRequest("the prediction log is off; serve with --prediction-log-sample RATE to compare traffic with a reference")
        }
        let version = try resolve(model, ref)
        let body = try await ResponseFactory.collect(req, limit: ReferenceStore.maxBytes)
        let label = FormQuery(req.uri.query).get("label")
        let csv = Array(buffer: body)
        // Every fault of the sample is the caller's (400); only storing it can fail on our side.
        do { _ = try ReferenceStore.check(csv: csv, label: label) } catch { throw ServerError.badRequest("\(error)") }
        return try Response.json(try store.put(model: model, version: version, csv: csv, label: label), status: .created)
    }

    /// `GET /api/v1/models/{name}/drift[?version=V&window=N]`: the `berth drift --json` report of
    /// the newest N logged rows (default 1,000) against the version's reference sample.
    func drift(_ req: Request, model: String) throws -> Response {
        _ = try requireLog()
        let query = FormQuery(req.uri.query)
        let window = try query.integer("window", what: "a row count") ?? 1_000
        guard (1...Self.maxWindow).contains(window) else { throw ServerError.badRequest("window must be 1...\(Self.maxWindow)") }
        let version = try watched(model, query.get("version"))
        // The prediction is tested when the version is loaded (its answers on the reference sample are needed).
        let session = (try? manager.servable(model: model, version: version))?.session
        return try Response.json(try monitoring.drift(model: model, version: version, window: window, session: session).report)
    }

    /// `POST /api/v1/models/{name}/feedback` with `{"feedback": [{"id": ..., "label": ...}]}`.
    func feedback(_ req: Request, model: String) async throws -> Response {
        let log = try requireLog()
        try requireKnown(model, log)
        guard let body = try await JSONBody.read(FeedbackBody.self, from: req, limit: Self.feedbackLimit) else {
            throw ServerError.badRequest("the body needs 'feedback': [{\"id\": ..., \"label\": ...}]")
        }
        guard body.feedback.count <= Self.maxFeedbackItems else {
            throw ServerError.badRequest("at most \(Self.maxFeedbackItems) feedback items per request (got \(body.feedback.count))")
        }
        // Off the event loops: the join writes to the database, and with a shared log it may wait
        // for another replica's batch (PredictionLog.attach).
        let items = body.feedback
        let result = try await blocking { try log.attach(model: model, items) }
        if result.accepted > 0 { monitoring.refreshGauges(model: model) }
        return try Response.json(result)
    }

    /// `GET /api/v1/models/{name}/performance[?version=V&window=N]`.
    func performance(_ req: Request, model: String) throws -> Response {
        let log = try requireLog()
        try requireKnown(model, log)
        let query = FormQuery(req.uri.query)
        let window = try query.integer("window", what: "a row count") ?? Self.defaultWindow
        guard (1...Self.maxWindow).contains(window) else { throw ServerError.badRequest("window must be 1...\(Self.maxWindow)") }
        var versions = try log.versions(of: model)
        if let v = query.get("version") { versions = versions.contains(v) ? [v] : [] }
        let entries = try versions.map { v in
            var entry = VersionPerformance(version: v, realized: try monitoring.performance(model: model, version: v, window: window))
            // Label-free estimate: needs the served session and a labelled reference sample.
            do {
                guard let n = Int(v), let servable = try? manager.servable(model: model, version: String(n)) else {
                    throw ServerError.notReady(model: model, version: v, state: "not loaded")
                }
                let e = try monitoring.estimate(model: model, version: v, window: window, session: servable.session)
                entry.estimated = ["accuracy": e.accuracy.estimated, "f1_macro": e.f1Macro.estimated, "roc_auc": e.rocAUC.estimated]
                    .compactMapValues { $0 }
            } catch {
                entry.estimatedReason = "\(error)"
            }
            return entry
        }
        return try Response.json(PerformanceBody(model: model, window: window, versions: entries))
    }
}
