import BerthEngine
import BerthProtocol
import HTTPTypes
import Hummingbird

/// The Open Inference Protocol (KServe V2) REST routes: health, server and model metadata,
/// readiness, inference (JSON and Triton's binary tensor extension), plus Triton's model
/// configuration and statistics extensions. Inference is decode → ``InferenceService`` → encode;
/// errors are thrown as ``ServerError`` and render themselves.
struct V2Routes: Sendable {
    let manager: ModelManager
    let service: InferenceService
    let metrics: ServerMetrics
    let configuration: ServerConfiguration

    /// The extensions `GET /v2` lists.
    static let extensions = ["binary_tensor_data", "model_repository", "statistics", "model_configuration", "classification", "logging", "trace"]

    func register(on router: Router<BerthRequestContext>) {
        // Bodies as the V2 protocol defines them (the kserve SDK reads them); the statuses are
        // Triton's (tritonclient reads those).
        router.get("/v2/health/live") { _, _ in try Response.json(V2LiveResponse(live: true)) }
        router.get("/v2/health/ready") { _, _ in
            let ready = manager.isReady
            return try Response.json(V2ReadyResponse(ready: ready), status: ready ? .ok : .badRequest)
        }
        router.get("/v2") { _, ctx in
            var metadata = V2ServerMetadata(name: "berth", version: BerthHTTPServer.version, extensions: Self.extensions)
            if ctx.access?.isOpen == true { metadata.warning = AccessControl.openWarning }
            return try Response.json(metadata)
        }
        router.get("/v2/models/stats") { _, ctx in
            var all = try manager.statistics(model: nil, version: nil)
            all.modelStats.removeAll { !ctx.maySee($0.name) }
            return try Response.json(all)
        }
        router.get("/v2/models/:model") { _, ctx in try modelMetadata(ctx.model, nil) }
        router.get("/v2/models/:model/versions/:version") { _, ctx in try modelMetadata(ctx.model, ctx.version) }
        router.get("/v2/models/:model/ready") { _, ctx in try modelReady(ctx.model, nil) }
        router.get("/v2/models/:model/versions/:version/ready") { _, ctx in try modelReady(ctx.model, ctx.version) }
        router.get("/v2/models/:model/config") { _, ctx in try modelConfig(ctx.model, nil) }
        router.get("/v2/models/:model/versions/:version/config") { _, ctx in try modelConfig(ctx.model, ctx.version) }
        router.get("/v2/models/:model/stats") { _, ctx in try statistics(model: ctx.model, version: nil) }
        router.get("/v2/models/:model/versions/:version/stats") { _, ctx in try statistics(model: ctx.model, version: ctx.version) }
        router.post("/v2/models/:model/infer") { req, ctx in try await infer(req, ctx, model: ctx.model, version: nil) }
        router.post("/v2/models/:model/versions/:version/infer") { req, ctx in
            try await infer(req, ctx, model: ctx.model, version: ctx.version)
        }
    }

    // MARK: Inference

    /// The header that makes a registry model's traffic split sticky: one key, one side.
    static let routingKeyField = HTTPField.Name("x-berth-routing-key")!
    /// The header carrying the JSON part's length when binary tensors follow it.
    static let headerLengthField = HTTPField.Name(V2InferenceRequest.headerLengthField)!

    func infer(_ req: Request, _ ctx: BerthRequestContext, model: String, version: String?) async throws -> Response {
        var target = InferenceTarget(model: model, version: version, routingKey: req.headers[Self.routingKeyField])
        target.caller = ctx.principal
        let headers = req.headers
        target.traceContext = TraceHeaderExtractor.context { HTTPField.Name($0).flatMap { headers[$0] } }
        let start = monotonicNanos()
        // The body is read before routing so a client that sends it slowly holds no version.
        let body: ByteBuffer
        do { body = try await ResponseFactory.collect(req, limit: configuration.maxBodySize, timeout: configuration.bodyTimeout) } catch let e as ServerError {
            service.recordRefused(target, e, startNs: start)
            throw e
        }
        return try await service.infer(target, startNs: start, decode: { interface in
            var headerLength: Int?
            if let h = req.headers[Self.headerLengthField] {
                guard let n = Int(h) else { throw ServerError.badRequest("Inference-Header-Content-Length '\(h)' is not an integer") }
                headerLength = n
            }
            return try V2InferenceRequest(body: body, headerLength: headerLength, model: interface)
        }, encode: { response in
            let (bytes, jsonLength) = response.encode()
            guard let jsonLength else { return ResponseFactory.json(buffer: bytes) }
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            headers[Self.headerLengthField] = String(jsonLength)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: bytes))
        })
    }

    // MARK: Metadata

    func modelReady(_ model: String, _ version: String?) throws -> Response {
        do {
            _ = try manager.servable(model: model, version: version)
            return try Response.json(V2ModelReadyResponse(name: model, ready: true))
        } catch ServerError.notReady {
            return try Response.json(V2ModelReadyResponse(name: model, ready: false), status: .badRequest)
        }
    }

    func modelMetadata(_ model: String, _ version: String?) throws -> Response {
        try Response.json(manager.metadata(model: model, version: version))
    }

    /// Triton's model configuration JSON (`GET .../config`).
    func modelConfig(_ model: String, _ version: String?) throws -> Response {
        try Response.json(manager.tritonConfig(model: model, version: version))
    }

    /// Triton's statistics extension (`GET /v2/models[/{m}[/versions/{v}]]/stats`).
    func statistics(model: String?, version: String?) throws -> Response {
        try Response.json(manager.statistics(model: model, version: version))
    }
}

extension ModelStatistics.Snapshot {
    /// The counters as Triton's statistics extension reports them.
    func triton(model: String, version: String) -> TritonStatistics.ModelStats {
        func d(_ x: ModelStatistics.Duration) -> TritonStatistics.Duration { .init(count: x.count, ns: x.ns) }
        var m = TritonStatistics.ModelStats(name: model, version: version)
        m.lastInference = lastInference
        m.inferenceCount = inferenceCount
        m.executionCount = executionCount
        m.inferenceStats.success = d(success)
        m.inferenceStats.fail = d(fail)
        m.inferenceStats.queue = d(queue)
        m.inferenceStats.computeInput = d(computeInput)
        m.inferenceStats.computeInfer = d(computeInfer)
        m.inferenceStats.computeOutput = d(computeOutput)
        m.batchStats = batches.sorted { $0.key < $1.key }.map { size, b in
            var s = TritonStatistics.BatchStats(batchSize: size)
            s.computeInput = d(b.computeInput)
            s.computeInfer = d(b.computeInfer)
            s.computeOutput = d(b.computeOutput)
            return s
        }
        return m
    }
}

extension BerthRequestContext {
    /// The `:model` path parameter (every route that reads it declares it).
    var model: String { parameters.get("model") ?? "" }
    /// The `:version` path parameter.
    var version: String? { parameters.get("version") }
}
