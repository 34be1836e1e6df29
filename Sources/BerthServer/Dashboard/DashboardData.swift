import BerthMonitor
import BerthRegistry
import Foundation

/// What `GET /api/v1/dashboard` answers: every served model with its versions, aliases, traffic
/// split, request time series, accuracy over time, drift against its reference, and the alert
/// rules. Parts that need data the server does not have are absent, with the reason.
struct DashboardData: Encodable {
    struct Server: Encodable { var version: String }

    struct Version: Encodable {
        var version: Int
        var state: String
    }

    struct Performance: Encodable {
        var version: String
        var timeline: PerformanceTimeline
        var realized: RealizedPerformance?
        var estimated: [String: Double]?
    }

    struct Drift: Encodable {
        var version: String
        var rows: Int
        var report: DriftReport
        var histograms: [String: FeatureHistogram]
    }

    struct Model: Encodable {
        var name: String
        var versions: [Version]
        var aliases: [String: Int]?
        var traffic: TrafficPolicy?
        var series: RequestWindow.Series
        var performance: Performance?
        var drift: Drift?
        var driftReason: String?
        var history: [RegistryEvent]?

        enum CodingKeys: String, CodingKey {
            case name, versions, aliases, traffic, series, performance, drift, history
            case driftReason = "drift_reason"
        }
    }

    var server: Server
    var models: [Model]
    var alerts: [MonitorRoutes.AlertEntry]
}
