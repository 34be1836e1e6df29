import BerthMonitor
import BerthRegistry
import Foundation
import HTTPTypes
import Hummingbird

/// `/dashboard`: one page (Berth's own HTML and SVG charts, served from the resource bundle, no
/// CDN) that polls `GET /api/v1/dashboard` every 5 s.
struct DashboardRoutes: Sendable {
    let manager: ModelManager
    let monitoring: Monitoring?
    let registry: (any Registry)?

    /// The request series: 60 buckets of 10 s.
    static let bucketSeconds = 10.0, buckets = 60
    /// Labelled rows per point of the accuracy chart, and rows of the drift check.
    static let timelineChunk = 50, driftWindow = 1_000

    func register(on router: Router<BerthRequestContext>) {
        router.get("dashboard") { _, _ in try Self.file("dashboard/index.html", type: "text/html; charset=utf-8") }
        router.get("dashboard/charts.js") { _, _ in try Self.file("dashboard/charts.js", type: "text/javascript; charset=utf-8") }
        router.get("api/v1/dashboard") { _, ctx in try Response.json(try data(maySee: ctx.maySee)) }
    }

    static func file(_ path: String, type: String) throws -> Response {
        guard let bytes = ServerResources.data(path) else {
            throw ServerError.notFound("the dashboard files are not installed beside the binary (Berth_BerthServer.resources)")
        }
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func data(maySee: (String) -> Bool) throws -> DashboardData {
        var versionsByModel: [String: [DashboardData.Version]] = [:]
        for e in manager.index() where maySee(e.name) {
            versionsByModel[e.name, default: []].append(.init(version: e.version ?? 0, state: (e.state?.rawValue ?? "unavailable").lowercased()))
        }
        let models = try versionsByModel.keys.sorted().map { name in try model(name, versions: versionsByModel[name] ?? []) }
        let alerts = (monitoring?.alerts ?? []).filter { maySee($0.rule.model) }.map {
            MonitorRoutes.AlertEntry(name: $0.rule.name, model: $0.rule.model, when: $0.rule.condition.description,
                                     actions: $0.rule.actions.map(\.rawValue), status: $0.status)
        }
        return DashboardData(server: .init(version: BerthHTTPServer.version), models: models, alerts: alerts)
    }

    func model(_ name: String, versions: [DashboardData.Version]) throws -> DashboardData.Model {
        var m = DashboardData.Model(name: name, versions: versions.sorted { $0.version < $1.version },
                                    series: monitoring?.window.series(model: name, bucket: Self.bucketSeconds, count: Self.buckets)
                                        ?? RequestWindow().series(model: name, bucket: Self.bucketSeconds, count: Self.buckets))
        if let registry, let record = try? registry.model(name) {
            m.aliases = record.aliases
            m.traffic = try? registry.traffic(name)
            m.history = try? registry.history(name, alias: nil)
        }
        let watched = manager.route(of: name)?.primary ?? versions.filter { $0.state == "ready" }.map(\.version).max()
        guard let monitoring, let log = monitoring.log, let watched else {
            m.driftReason = "serve with --prediction-log-sample RATE and store a reference sample to see drift"
            return m
        }
        let version = String(watched)
        let labelled = (try? log.labelled(model: name, version: version, rows: Self.timelineChunk * 40)) ?? []
        var performance = DashboardData.Performance(version: version, timeline: PerformanceTimeline(labelled, chunkRows: Self.timelineChunk),
                                                    realized: RealizedPerformance.compute(labelled, window: Int.max))
        if let s = try? manager.servable(model: name, version: version),
           let e = try? monitoring.estimate(model: name, version: version, window: Self.driftWindow, session: s.session) {
            performance.estimated = ["accuracy": e.accuracy.estimated, "f1_macro": e.f1Macro.estimated, "roc_auc": e.rocAUC.estimated]
                .compactMapValues { $0 }
        }
        m.performance = performance
        do {
            let (report, rows) = try monitoring.drift(model: name, version: version, window: Self.driftWindow,
                                                      session: (try? manager.servable(model: name, version: version))?.session)
            let ref = try monitoring.reference(model: name, version: version)
            let current = try monitoring.liveTable(model: name, version: version, window: Self.driftWindow, reference: ref.info)
            var histograms: [String: FeatureHistogram] = [:]
            for f in report.features.keys {
                if let r = try? ref.table.column(f, purpose: "drift"), let c = try? current.column(f, purpose: "drift") {
                    histograms[f] = FeatureHistogram(reference: r, current: c)
                }
            }
            m.drift = .init(version: version, rows: rows, report: report, histograms: histograms)
        } catch {
            m.driftReason = "\(error)"
        }
        return m
    }
}
