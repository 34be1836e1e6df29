/// Records every request in the answering version's Triton statistics and in the Prometheus
/// metrics (requests, failures by reason, rows, latency, the traffic side that chose the version).
struct RequestMetricsObserver: InferenceObserver {
    let metrics: ServerMetrics

    func finished(_ event: InferenceEvent) {
        let model = event.target.model
        let total = event.totalNs
        let seconds = Double(total) / 1e9
        guard event.error == nil, let s = event.servable else {
            event.servable?.stats.recordFailure(totalNs: total)
            metrics.recordRequest(model: model, version: event.servable?.versionString ?? event.target.version ?? "",
                                  success: false, reason: event.error?.failureReason, rows: event.rows, requestSeconds: seconds)
            return
        }
        s.stats.recordSuccess(rows: event.rows, totalNs: total, timing: event.timing ?? BatchTiming())
        metrics.recordRequest(model: model, version: s.versionString, success: true, reason: nil, rows: event.rows,
                              requestSeconds: seconds)
        if let side = event.side { metrics.traffic.recordRoute(model: model, version: s.versionString, side: side.rawValue) }
    }
}
