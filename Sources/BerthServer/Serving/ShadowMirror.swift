/// Re-runs a successful request's inputs on the shadow version in the background, after the
/// caller got its answer, and records how the shadow's outputs compare with production's. A
/// shadow with a full queue drops the copy.
struct ShadowMirror: InferenceObserver {
    let metrics: ServerMetrics

    func finished(_ event: InferenceEvent) {
        guard event.error == nil, let shadow = event.shadow, let request = event.request,
              let production = event.outputs else { return }
        // The service releases its hold when the request ends; the mirrored run takes its own.
        guard shadow.acquire() else { return }
        let metrics = self.metrics
        Task {
            defer { shadow.release() }
            do {
                let result = try await shadow.batcher.submit(request.feeds, rows: request.rows)
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
