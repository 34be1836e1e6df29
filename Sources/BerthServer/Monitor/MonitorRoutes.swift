import BerthMonitor
import Foundation
import Hummingbird

/// Monitoring under `/api/v1`: feedback (ground truth joined to logged predictions), realized
/// performance per version, and alert states. Mounted in every serving mode.
struct MonitorRoutes: Sendable {
    let monitoring: Monitoring
    let manager: ModelManager

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
        var estimatedReason: String
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

    struct AlertsBody: Encodable { var alerts: [AlertEntry] }

    func register(on router: Router<BasicRequestContext>) {
        let api = router.group("/api/v1")
        api.post("models/:name/feedback") { req, ctx in try await feedback(req, model: try ctx.parameters.require("name")) }
        api.get("models/:name/performance") { req, ctx in try performance(req, model: try ctx.parameters.require("name")) }
        api.get("alerts") { _, _ in
            try Response.json(AlertsBody(alerts: monitoring.alerts.map {
                AlertEntry(name: $0.rule.name, model: $0.rule.model, when: $0.rule.condition.description,
                           actions: $0.rule.actions.map(\.rawValue), status: $0.status)
            }))
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
        let result = try log.attach(model: model, body.feedback)
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
            VersionPerformance(version: v, realized: try monitoring.performance(model: model, version: v, window: window),
                               estimated: nil,
                               estimatedReason: "estimation needs a reference profile stored with the version, which this server does not keep yet (offline: berth monitor estimate)")
        }
        return try Response.json(PerformanceBody(model: model, window: window, versions: entries))
    }
}
