import BerthEngine
import BerthONNX
import BerthTensor
import HTTPTypes
import Hummingbird
import Logging

/// The Open Inference Protocol (KServe V2) REST routes: health, server and model metadata,
/// readiness, inference (JSON and Triton's binary tensor extension), plus Triton's model
/// configuration and statistics extensions.
struct V2Routes: Sendable {
    let manager: ModelManager
    let metrics: ServerMetrics
    let configuration: ServerConfiguration

    /// The extensions `GET /v2` lists.
    static let extensions = ["binary_tensor_data", "model_repository", "statistics", "model_configuration"]

    func register(on router: Router<BasicRequestContext>) {
        router.get("/v2/health/live") { _, _ in ResponseFactory.ok() }
        router.get("/v2/health/ready") { _, _ in
            manager.isReady ? ResponseFactory.ok() : ResponseFactory.status(.badRequest)
        }
        router.get("/v2") { _, _ in serverMetadata() }
        router.get("/v2/models/stats") { _, _ in statistics(model: nil, version: nil) }
        router.get("/v2/models/:model") { _, ctx in modelMetadata(ctx.parameters.get("model")!, nil) }
        router.get("/v2/models/:model/versions/:version") { _, ctx in
            modelMetadata(ctx.parameters.get("model")!, ctx.parameters.get("version"))
        }
        router.get("/v2/models/:model/ready") { _, ctx in modelReady(ctx.parameters.get("model")!, nil) }
        router.get("/v2/models/:model/versions/:version/ready") { _, ctx in
            modelReady(ctx.parameters.get("model")!, ctx.parameters.get("version"))
        }
        router.get("/v2/models/:model/config") { _, ctx in modelConfig(ctx.parameters.get("model")!, nil) }
        router.get("/v2/models/:model/versions/:version/config") { _, ctx in
            modelConfig(ctx.parameters.get("model")!, ctx.parameters.get("version"))
        }
        router.get("/v2/models/:model/stats") { _, ctx in statistics(model: ctx.parameters.get("model")!, version: nil) }
        router.get("/v2/models/:model/versions/:version/stats") { _, ctx in
            statistics(model: ctx.parameters.get("model")!, version: ctx.parameters.get("version"))
        }
        router.post("/v2/models/:model/infer") { req, ctx in
            await infer(req, model: ctx.parameters.get("model")!, version: nil)
        }
        router.post("/v2/models/:model/versions/:version/infer") { req, ctx in
            await infer(req, model: ctx.parameters.get("model")!, version: ctx.parameters.get("version"))
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = ServerMetrics.contentType
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
    }

    // MARK: Inference

    /// The header that makes a registry model's traffic split sticky: one key, one side.
    static let routingKeyField = HTTPField.Name("x-berth-routing-key")!

    func infer(_ req: Request, model: String, version: String?) async -> Response {
        let start = monotonicNanos()
        var servable: Servable?
        var shadow: Servable?
        // The version is held until the request recorded its metrics: an unload drains it first.
        defer {
            servable?.release()
            shadow?.release()
        }
        var rows = 1
        do {
            let body = try await ResponseFactory.collect(req, limit: configuration.maxBodySize)
            let side: TrafficRoute.Side?
            if let version {
                servable = try manager.acquire(model: model, version: version)
                side = manager.route(of: model) == nil ? nil : .version
            } else {
                let routed = try manager.acquireRouted(model: model, key: req.headers[Self.routingKeyField])
                servable = routed.servable
                shadow = routed.shadow
                side = routed.side
            }
            let s = servable!
            var headerLength: Int?
            if let h = req.headers[InferenceResponse.headerLengthField] {
                guard let n = Int(h) else { throw ServerError.badRequest("Inference-Header-Content-Length '\(h)' is not an integer") }
                headerLength = n
            }
            let request = try InferenceRequest(body: body, headerLength: headerLength, servable: s)
            rows = request.rows
            let result = try await s.batcher.submit(request.inputs)
            let response = InferenceResponse(request: request, servable: s, results: result.outputs).response()
            let total = monotonicNanos() - start
            s.stats.recordSuccess(rows: rows, totalNs: total, timing: result.timing)
            metrics.recordRequest(model: model, version: s.versionString, success: true, reason: nil, rows: rows,
                                  requestSeconds: Double(total) / 1e9)
            if let side { metrics.traffic.recordRoute(model: model, version: s.versionString, side: side.rawValue) }
            if let sh = shadow {
                // The mirrored run owns the shadow's hold from here on; the caller does not wait.
                shadow = nil
                mirror(request.inputs, to: sh, production: result.outputs)
            }
            return response
        } catch {
            let e = ServerError.from(engine: error)
            let total = monotonicNanos() - start
            servable?.stats.recordFailure(totalNs: total)
            metrics.recordRequest(model: model, version: servable?.versionString ?? version ?? "", success: false,
                                  reason: e.failureReason, rows: rows, requestSeconds: Double(total) / 1e9)
            return ResponseFactory.error(e)
        }
    }

    /// Runs a request's inputs on the shadow version in the background and records how its
    /// outputs compare with production's. A shadow with a full queue drops the copy.
    private func mirror(_ inputs: [String: Tensor], to shadow: Servable, production: [String: Tensor]) {
        let metrics = self.metrics
        Task {
            defer { shadow.release() }
            do {
                let result = try await shadow.batcher.submit(inputs)
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

    // MARK: Metadata

    func serverMetadata() -> Response {
        var w = JSONWriter()
        w.raw("{\"name\":\"berth\",\"version\":")
        w.string(BerthHTTPServer.version)
        w.raw(",\"extensions\":")
        w.array(Self.extensions)
        w.byte(0x7D)
        return ResponseFactory.json(w)
    }

    func modelReady(_ model: String, _ version: String?) -> Response {
        do {
            _ = try manager.servable(model: model, version: version)
            return ResponseFactory.ok()
        } catch let e as ServerError {
            if case .notReady = e { return ResponseFactory.status(.badRequest) }
            return ResponseFactory.error(e)
        } catch {
            return ResponseFactory.error(.inferenceFailed("\(error)"))
        }
    }

    func modelMetadata(_ model: String, _ version: String?) -> Response {
        do {
            let s = try manager.servable(model: model, version: version)
            let versions = version != nil ? [s.version] : try manager.readyVersions(model: model)
            var w = JSONWriter()
            w.raw("{\"name\":")
            w.string(model)
            w.raw(",\"versions\":")
            w.array(versions) { $0.string(String($1)) }
            w.raw(",\"platform\":\"onnxruntime_onnx\",\"inputs\":")
            Self.writeTensorMetadata(s.session.inputs, to: &w)
            w.raw(",\"outputs\":")
            Self.writeTensorMetadata(s.session.outputs, to: &w)
            w.byte(0x7D)
            return ResponseFactory.json(w)
        } catch {
            return ResponseFactory.error(ServerError.from(engine: error))
        }
    }

    static func writeTensorMetadata(_ infos: [ValueInfo], to w: inout JSONWriter) {
        w.array(infos) { w, info in
            w.raw("{\"name\":")
            w.string(info.name)
            w.raw(",\"datatype\":")
            w.string(info.dtype?.v2Name ?? "FP32")
            w.raw(",\"shape\":")
            w.array(info.shape ?? []) { $0.int($1.value ?? -1) }
            w.byte(0x7D)
        }
    }

    /// Triton's model configuration JSON (`GET .../config`).
    func modelConfig(_ model: String, _ version: String?) -> Response {
        do {
            let s = try manager.servable(model: model, version: version)
            let c = s.config
            let batched = s.maxBatchSize > 0
            var w = JSONWriter()
            w.raw("{\"name\":")
            w.string(model)
            w.raw(",\"platform\":\"onnxruntime_onnx\",\"backend\":\"berth\",\"version_policy\":")
            switch c.versionPolicy {
            case let .latest(n): w.raw("{\"latest\":{\"num_versions\":"); w.int(n); w.raw("}}")
            case .all: w.raw("{\"all\":{}}")
            case let .specific(v):
                w.raw("{\"specific\":{\"versions\":")
                w.array(v)
                w.raw("}}")
            }
            w.raw(",\"max_batch_size\":")
            w.int(s.maxBatchSize)
            func io(_ infos: [ValueInfo]) {
                w.array(infos) { w, info in
                    w.raw("{\"name\":")
                    w.string(info.name)
                    w.raw(",\"data_type\":")
                    w.string(info.dtype?.tritonConfigName ?? "TYPE_FP32")
                    w.raw(",\"dims\":")
                    w.array((info.shape ?? []).dropFirst(batched ? 1 : 0)) { $0.int($1.value ?? -1) }
                    w.byte(0x7D)
                }
            }
            w.raw(",\"input\":")
            io(s.session.inputs)
            w.raw(",\"output\":")
            io(s.session.outputs)
            w.raw(",\"instance_group\":[{\"name\":")
            w.string(model)
            w.raw(",\"kind\":\"KIND_CPU\",\"count\":")
            w.int(c.instanceCount)
            w.raw("}]")
            if batched {
                let b = c.dynamicBatching ?? .init()
                w.raw(",\"dynamic_batching\":{\"preferred_batch_size\":")
                w.array(b.preferredBatchSizes)
                w.raw(",\"max_queue_delay_microseconds\":")
                w.int(b.maxQueueDelayMicroseconds)
                w.raw(",\"default_queue_policy\":{\"max_queue_size\":")
                w.int(b.maxQueueSize)
                w.raw("}}")
            }
            w.raw(",\"parameters\":{\"intra_op_thread_count\":{\"string_value\":")
            w.string(String(s.session.options.intraOpThreads))
            w.raw("}}}")
            return ResponseFactory.json(w)
        } catch {
            return ResponseFactory.error(ServerError.from(engine: error))
        }
    }

    /// Triton's statistics extension (`GET /v2/models[/{m}[/versions/{v}]]/stats`).
    func statistics(model: String?, version: String?) -> Response {
        do {
            var servables: [Servable] = []
            if let model {
                if let version {
                    servables = [try manager.servable(model: model, version: version)]
                } else {
                    for v in try manager.readyVersions(model: model) {
                        servables.append(try manager.servable(model: model, version: String(v)))
                    }
                }
            } else {
                for entry in manager.index() where entry.state == .ready {
                    if let v = entry.version, let s = try? manager.servable(model: entry.name, version: String(v)) { servables.append(s) }
                }
            }
            var w = JSONWriter()
            func dur(_ w: inout JSONWriter, _ d: ModelStatistics.Duration) {
                w.raw("{\"count\":"); w.int(d.count); w.raw(",\"ns\":"); w.int(d.ns); w.byte(0x7D)
            }
            w.raw("{\"model_stats\":")
            w.array(servables) { w, s in
                let st = s.stats.snapshot
                w.raw("{\"name\":")
                w.string(s.model)
                w.raw(",\"version\":")
                w.string(s.versionString)
                w.raw(",\"last_inference\":"); w.int(st.lastInference)
                w.raw(",\"inference_count\":"); w.int(st.inferenceCount)
                w.raw(",\"execution_count\":"); w.int(st.executionCount)
                w.raw(",\"inference_stats\":{\"success\":"); dur(&w, st.success)
                w.raw(",\"fail\":"); dur(&w, st.fail)
                w.raw(",\"queue\":"); dur(&w, st.queue)
                w.raw(",\"compute_input\":"); dur(&w, st.computeInput)
                w.raw(",\"compute_infer\":"); dur(&w, st.computeInfer)
                w.raw(",\"compute_output\":"); dur(&w, st.computeOutput)
                w.raw(",\"cache_hit\":{\"count\":0,\"ns\":0},\"cache_miss\":{\"count\":0,\"ns\":0}}")
                w.raw(",\"batch_stats\":")
                w.array(st.batches.sorted(by: { $0.key < $1.key })) { w, e in
                    w.raw("{\"batch_size\":"); w.int(e.key)
                    w.raw(",\"compute_input\":"); dur(&w, e.value.computeInput)
                    w.raw(",\"compute_infer\":"); dur(&w, e.value.computeInfer)
                    w.raw(",\"compute_output\":"); dur(&w, e.value.computeOutput)
                    w.byte(0x7D)
                }
                w.byte(0x7D)
            }
            w.byte(0x7D)
            return ResponseFactory.json(w)
        } catch {
            return ResponseFactory.error(ServerError.from(engine: error))
        }
    }
}
