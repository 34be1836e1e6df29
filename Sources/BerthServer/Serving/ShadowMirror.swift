import BerthProtocol
/// Re-runs a successful request's inputs on the shadow version in the background, after the
/// caller got its answer, and records how the shadow's outputs compare with production's. A
/// shadow with a full queue drops the copy.
struct ShadowMirror: InferenceObserver {
    let metrics: ServerMetrics

    func finished(_ event: InferenceEvent) {
        guard event.error == nil, let shadow = event.shadow, let request = event.request,
              let production = event.outputs else { return }
        let metrics = self.metrics
        // The service releases its hold when the request ends; the mirrored run takes its own
        // (a shadow that began draining meanwhile drops the copy, and says so).
        guard shadow.acquire() else {
            metrics.traffic.recordShadow(model: shadow.model, version: shadow.versionString, outcome: .dropped, maxAbsDiff: nil)
            return
        }
        Task {
            defer { shadow.release() }
            do {
                // Rows counted by the shadow's own interface: its signature may differ from production's.
                let feeds = request.feeds
                let result = try await shadow.run(feeds, rows: ModelInterface.rows(of: feeds, firstInput: shadow.interface.inputs.first?.name))
                let (agree, diff) = ShadowComparison.compare(production: production, shadow: result.outputs)
                metrics.traffic.recordShadow(model: shadow.model, version: shadow.versionString,
                                             outcome: agree ? .agree : .disagree, maxAbsDiff: diff)
            } catch ServerError.queueFull {
                metrics.traffic.recordShadow(model: shadow.model, version: shadow.versionString, outcome: .dropped, maxAbsDiff: nil)
            } catch {
                metrics.traffic.recordShadow(model: shadow.model, version: shadow.versionString, outcome: .error, maxAbsDiff: nil)
            }
        }
    }
}
