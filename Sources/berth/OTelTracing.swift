import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// `berth serve --otel-endpoint URL`: the request spans of ``BerthServer`` (infer → decode, queue,
/// compute, encode; W3C `traceparent` as parent) exported over OTLP by swift-otel. Only traces:
/// logs stay on standard error and metrics on `/metrics`.
enum OTelTracing {
    /// Bootstraps the process-wide tracer and returns the exporter's background service, which
    /// must run while the server does. `endpoint` is the collector's base URL (for HTTP,
    /// `/v1/traces` is added when the URL has no path) or the full traces URL.
    static func bootstrap(endpoint: String, protocol name: String, logger: Logger) throws -> any Service {
        var config = OTel.Configuration.default
        config.serviceName = "berth"
        config.logs.enabled = false
        config.metrics.enabled = false
        config.traces.enabled = true
        config.propagators = [.traceContext]
        config.diagnosticLogger = .custom(logger)
        switch name {
        case "http/protobuf": config.traces.otlpExporter.protocol = .httpProtobuf
        case "http/json": config.traces.otlpExporter.protocol = .httpJSON
        case "grpc": config.traces.otlpExporter.protocol = .grpc
        default: throw CLIError("--otel-protocol must be http/protobuf, http/json or grpc")
        }
        guard let url = URL(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw CLIError("--otel-endpoint '\(endpoint)' is not an http(s) URL")
        }
        config.traces.otlpExporter.endpoint = name != "grpc" && (url.path.isEmpty || url.path == "/")
            ? endpoint.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/v1/traces" : endpoint
        // Spans leave the process a fraction of a second after their request, not in 5 s batches.
        config.traces.batchSpanProcessor.scheduleDelay = .milliseconds(200)
        let backend = try OTel.makeTracingBackend(configuration: config)
        InstrumentationSystem.bootstrap(backend.factory)
        return backend.service
    }

    /// Runs `body` (the server) with the exporter's service beside it; stops the exporter after.
    static func alongside(_ service: (any Service)?, _ body: @escaping @Sendable () async throws -> Void) async throws {
        guard let service else { return try await body() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            try await body()
            // The last spans: give the 200 ms batch one more turn before stopping the exporter.
            try? await Task.sleep(for: .milliseconds(400))
            group.cancelAll()
        }
    }
}
