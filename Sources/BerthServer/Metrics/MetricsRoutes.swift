import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /metrics`: the Prometheus exposition. A non-admin caller sees only the series of models
/// it may see (``MetricsFilter``).
struct MetricsRoutes: Sendable {
    let metrics: ServerMetrics

    func register(on router: Router<BerthRequestContext>) {
        router.get("/metrics") { _, ctx in
            var headers = HTTPFields()
            headers[.contentType] = ServerMetrics.contentType
            var text = metrics.exposition()
            if ctx.principal.role != .admin { text = MetricsFilter.filter(text, maySee: ctx.maySee) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
