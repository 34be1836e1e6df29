import BerthMonitor
import Foundation

/// Records every request in the monitoring window and hands the sampled successful ones to the
/// prediction log (which writes them off the request path).
struct MonitorObserver: InferenceObserver {
    let monitoring: Monitoring

    func finished(_ event: InferenceEvent) {
        let latencyMs = Double(event.totalNs) / 1e6
        monitoring.window.record(model: event.target.model, latencyMs: latencyMs, failed: event.error != nil)
        monitoring.clusterWindow?.record(model: event.target.model, latencyMs: latencyMs, failed: event.error != nil)
        guard event.error == nil, let log = monitoring.log, let s = event.servable, let request = event.request,
              let outputs = event.outputs, log.sample() else { return }
        let ordered = s.interface.outputs.compactMap { o in outputs[o.name].map { (name: o.name, tensor: $0) } }
        log.append(PredictionRecord(
            id: request.id ?? "", time: Date(), model: event.target.model, version: s.versionString, route: event.side?.rawValue,
            transport: event.target.transport, rows: event.rows, latencyMs: latencyMs,
            inputs: request.inputs.map { (name: $0.name, tensor: $0.tensor) }, outputs: ordered))
    }
}
