import BerthProtocol
import BerthRegistry
import Foundation
import GRPCCore

/// The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`, as KServe and Triton
/// define it; tritonclient.grpc speaks it): health, server and model metadata, inference, and
/// Triton's repository and statistics RPCs. A thin adapter: inference goes through the same
/// ``InferenceService`` as REST (routing, batching, metrics, observers), metadata and repository
/// control through the same ``ModelManager`` and ``RepositoryControl`` calls, and every
/// ``ServerError`` becomes the matching gRPC status with the REST error's message.
struct InferenceGRPCService: Inference_GRPCInferenceService.ServiceProtocol {
    let manager: ModelManager
    let service: InferenceService
    let repository: RepositoryControl
    /// Who may call what: the same decision as REST's (``AccessControl/authorize``).
    let access: AccessControl

    /// The metadata key that makes a registry model's traffic split sticky (REST: the `x-berth-routing-key` header).
    static let routingKeyMetadata = "x-berth-routing-key"

    init(manager: ModelManager, service: InferenceService, configuration: ServerConfiguration, access: AccessControl) {
        self.manager = manager
        self.access = access
        self.service = service
        repository = RepositoryControl(manager: manager, configuration: configuration)
    }

    /// Runs `body`, reporting a ``ServerError`` (or any error, as the REST path classifies it) as its gRPC status.
    func answer<Out>(_ body: () async throws -> Out) async throws -> ServerResponse<Out> {
        do { return ServerResponse(message: try await body()) } catch let e as RPCError { throw e } catch {
            throw ServerError.from(engine: error).rpcError
        }
    }

    /// The caller of an RPC, from its `authorization` metadata, allowed `permission` on `model`;
    /// throws the gRPC status (UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND) otherwise.
    func authorize(_ metadata: Metadata, _ permission: Permission, model: String?) async throws -> Principal {
        do {
            return try await access.authorize(authorization: metadata[stringValues: "authorization"].first(where: { _ in true }),
                                        permission: permission, model: model)
        } catch let e as ServerError { throw e.rpcError }
    }

    // MARK: Health and metadata

    /// Runs an admin RPC after authorizing it, writing the outcome to the audit log as REST's
    /// admin routes are (refusals of a known key included; anonymous ones are not logged).
    private func audited(_ rpc: String, _ metadata: Metadata, _ context: ServerContext, model: String,
                         _ body: () async throws -> Void) async throws {
        let header = metadata[stringValues: "authorization"].first(where: { _ in true })
        func record(_ p: Principal?, _ status: Int) {
            guard !access.isOpen else { return }
            access.audit(AuditEntry(keyID: p?.keyID, tenant: p?.tenant, role: p?.role, action: "gRPC \(rpc)", target: model,
                                    status: status, source: context.remotePeer))
        }
        let caller: Principal
        do { caller = try await access.authorize(authorization: header, permission: .admin, model: model) } catch let e as ServerError {
            if e.status != .unauthorized { record(nil, Int(e.status.code)) }
            throw e.rpcError
        }
        do {
            try await body()
            record(caller, 200)
        } catch {
            record(caller, Int(ServerError.from(engine: error).status.code))
            throw error
        }
    }

    func serverLive(request: ServerRequest<Inference_ServerLiveRequest>,
                    context: ServerContext) async throws -> ServerResponse<Inference_ServerLiveResponse> {
        ServerResponse(message: .with { $0.live = true })
    }

    func serverReady(request: ServerRequest<Inference_ServerReadyRequest>,
                     context: ServerContext) async throws -> ServerResponse<Inference_ServerReadyResponse> {
        ServerResponse(message: .with { $0.ready = manager.isReady })
    }

    func modelReady(request: ServerRequest<Inference_ModelReadyRequest>,
                    context: ServerContext) async throws -> ServerResponse<Inference_ModelReadyResponse> {
        // REST answers 404 or 400 for an unknown or unready model, which tritonclient reads as
        // "not ready"; gRPC has a body for that: ready = false, as Triton answers.
        let m = request.message
        // Another tenant's model answers as an unknown one does here: not ready (no NOT_FOUND to probe with).
        do { _ = try await authorize(request.metadata, .read, model: m.name) } catch let e as RPCError where e.code == .notFound {
            return ServerResponse(message: .with { $0.ready = false })
        }
        let ready = (try? manager.servable(model: m.name, version: m.version.isEmpty ? nil : m.version)) != nil
        return ServerResponse(message: .with { $0.ready = ready })
    }

    func serverMetadata(request: ServerRequest<Inference_ServerMetadataRequest>,
                        context: ServerContext) async throws -> ServerResponse<Inference_ServerMetadataResponse> {
        _ = try await authorize(request.metadata, .read, model: nil)
        return ServerResponse(message: .with {
            $0.name = "berth"
            $0.version = BerthHTTPServer.version
            $0.extensions = V2Routes.extensions
        })
    }

    func modelMetadata(request: ServerRequest<Inference_ModelMetadataRequest>,
                       context: ServerContext) async throws -> ServerResponse<Inference_ModelMetadataResponse> {
        try await answer {
            let m = request.message
            _ = try await authorize(request.metadata, .read, model: m.name)
            let md = try manager.metadata(model: m.name, version: m.version.isEmpty ? nil : m.version)
            func tensors(_ list: [V2TensorMetadata]?) -> [Inference_ModelMetadataResponse.TensorMetadata] {
                (list ?? []).map { t in .with { $0.name = t.name; $0.datatype = t.datatype; $0.shape = (t.shape ?? []).map(Int64.init) } }
            }
            return .with {
                $0.name = md.name
                $0.versions = md.versions ?? []
                $0.platform = md.platform ?? ""
                $0.inputs = tensors(md.inputs)
                $0.outputs = tensors(md.outputs)
            }
        }
    }

    // MARK: Inference

    func modelInfer(request: ServerRequest<Inference_ModelInferRequest>,
                    context: ServerContext) async throws -> ServerResponse<Inference_ModelInferResponse> {
        let m = request.message
        var target = InferenceTarget(model: m.modelName, version: m.modelVersion.isEmpty ? nil : m.modelVersion,
                                     routingKey: request.metadata[stringValues: Self.routingKeyMetadata].first(where: { _ in true }),
                                     transport: "grpc")
        let metadata = request.metadata
        target.traceContext = TraceHeaderExtractor.context { metadata[stringValues: $0].first(where: { _ in true }) }
        do {
            target.caller = try await access.authorize(authorization: request.metadata[stringValues: "authorization"].first(where: { _ in true }),
                                                 permission: .infer, model: m.modelName)
        } catch let e as ServerError {
            // Counted like any refused inference (reason `denied`) when the model is served, so an
            // anonymous caller cannot mint series for made-up names; REST refuses before the request path.
            if (try? manager.servable(model: m.modelName, version: nil)) != nil { service.recordRefused(target, e, startNs: monotonicNanos()) }
            throw e.rpcError
        }
        do {
            return ServerResponse(message: try await service.infer(target, decode: { try m.v2Request(for: $0) },
                                                                   encode: { $0.grpcResponse }))
        } catch let e as ServerError {
            throw e.rpcError
        }
    }

    // MARK: Statistics and repository (Triton's extensions)

    func modelStatistics(request: ServerRequest<Inference_ModelStatisticsRequest>,
                         context: ServerContext) async throws -> ServerResponse<Inference_ModelStatisticsResponse> {
        try await answer {
            let m = request.message
            let caller = try await authorize(request.metadata, .read, model: m.name.isEmpty ? nil : m.name)
            let stats = try manager.statistics(model: m.name.isEmpty ? nil : m.name, version: m.version.isEmpty ? nil : m.version)
            return .with {
                $0.modelStats = stats.modelStats.filter { access.maySee(caller, model: $0.name) }.map(Inference_ModelStatistics.init)
            }
        }
    }

    func repositoryIndex(request: ServerRequest<Inference_RepositoryIndexRequest>,
                         context: ServerContext) async throws -> ServerResponse<Inference_RepositoryIndexResponse> {
        let caller = try await authorize(request.metadata, .read, model: nil)
        let entries = repository.index(readyOnly: request.message.ready).filter { access.maySee(caller, model: $0.name) }
        return ServerResponse(message: .with {
            $0.models = entries.map { e in
                .with {
                    $0.name = e.name
                    $0.version = e.version.map(String.init) ?? ""
                    $0.state = e.state?.rawValue ?? ""
                    $0.reason = e.state == nil ? "" : e.reason
                }
            }
        })
    }

    func repositoryModelLoad(request: ServerRequest<Inference_RepositoryModelLoadRequest>,
                             context: ServerContext) async throws -> ServerResponse<Inference_RepositoryModelLoadResponse> {
        try await answer {
            let m = request.message
            try await audited("RepositoryModelLoad", request.metadata, context, model: m.modelName) {
                try await repository.change(model: m.modelName, load: true, parameterNames: Array(m.parameters.keys))
            }
            return Inference_RepositoryModelLoadResponse()
        }
    }

    func repositoryModelUnload(request: ServerRequest<Inference_RepositoryModelUnloadRequest>,
                               context: ServerContext) async throws -> ServerResponse<Inference_RepositoryModelUnloadResponse> {
        try await answer {
            let m = request.message
            try await audited("RepositoryModelUnload", request.metadata, context, model: m.modelName) {
                try await repository.change(model: m.modelName, load: false, parameterNames: Array(m.parameters.keys))
            }
            return Inference_RepositoryModelUnloadResponse()
        }
    }
}

extension Inference_ModelStatistics {
    /// Triton's statistics record in its protobuf form (the REST extension's JSON, field for field).
    init(_ s: TritonStatistics.ModelStats) {
        func d(_ x: TritonStatistics.Duration) -> Inference_StatisticDuration { .with { $0.count = UInt64(x.count); $0.ns = x.ns } }
        self = .with {
            $0.name = s.name
            $0.version = s.version
            $0.lastInference = s.lastInference
            $0.inferenceCount = UInt64(s.inferenceCount)
            $0.executionCount = UInt64(s.executionCount)
            $0.inferenceStats = .with {
                $0.success = d(s.inferenceStats.success)
                $0.fail = d(s.inferenceStats.fail)
                $0.queue = d(s.inferenceStats.queue)
                $0.computeInput = d(s.inferenceStats.computeInput)
                $0.computeInfer = d(s.inferenceStats.computeInfer)
                $0.computeOutput = d(s.inferenceStats.computeOutput)
                $0.cacheHit = d(s.inferenceStats.cacheHit)
                $0.cacheMiss = d(s.inferenceStats.cacheMiss)
            }
            $0.batchStats = s.batchStats.map { b in
                .with {
                    $0.batchSize = UInt64(b.batchSize)
                    $0.computeInput = d(b.computeInput)
                    $0.computeInfer = d(b.computeInfer)
                    $0.computeOutput = d(b.computeOutput)
                }
            }
        }
    }
}
