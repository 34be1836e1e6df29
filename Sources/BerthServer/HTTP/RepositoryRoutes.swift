import BerthRegistry
import HTTPTypes
import Hummingbird

/// The model repository extension: `POST /v2/repository/index`,
/// `POST /v2/repository/models/{m}/load` and `.../unload`. Handlers throw; the group's
/// ``ErrorBodyMiddleware`` (and ``ServerError`` itself) render errors as `{"error": "..."}`.
struct RepositoryRoutes: Sendable {
    let manager: ModelManager
    let configuration: ServerConfiguration
    /// Carries out explicit loads and unloads; nil when a registry deploys the models.
    let source: RepositorySource?

    init(manager: ModelManager, configuration: ServerConfiguration) {
        self.manager = manager
        self.configuration = configuration
        // Explicit control only: the poller's file-watching state lives in ModelLoaderService's source.
        source = manager.repository.map { RepositorySource(repository: $0, manager: manager) }
    }

    /// `POST /v2/repository/index` body: `{"ready": true}` lists ready versions only.
    struct IndexRequest: Decodable {
        var ready: Bool?
    }

    /// One row of the index answer; `version`, `state` and `reason` are left out (not null) for a
    /// model that was never loaded, as Triton does.
    struct IndexEntry: Encodable {
        var name: String
        var version: String?
        var state: String?
        var reason: String?
    }

    /// Load and unload bodies: Berth takes no `parameters`, and refuses the config and file overrides.
    struct ChangeRequest: Decodable {
        var parameters: [String: JSONNode]?
    }

    func register(on router: Router<BasicRequestContext>) {
        let repository = router.group("/v2/repository")
        repository.post("index") { req, _ in try await index(req) }
        repository.post("models/:model/load") { req, ctx in
            try await change(req, model: try ctx.parameters.require("model"), load: true)
        }
        repository.post("models/:model/unload") { req, ctx in
            try await change(req, model: try ctx.parameters.require("model"), load: false)
        }
    }

    private var bodyLimit: Int { min(configuration.maxBodySize, 1 << 20) }

    func index(_ req: Request) async throws -> Response {
        let readyOnly = try await JSONBody.read(IndexRequest.self, from: req, limit: bodyLimit)?.ready ?? false
        let entries = manager.index().filter { !readyOnly || $0.state == .ready }.map { e in
            IndexEntry(name: e.name, version: e.version.map(String.init), state: e.state?.rawValue, reason: e.state.map { _ in e.reason })
        }
        return try Response.json(entries)
    }

    func change(_ req: Request, model: String, load: Bool) async throws -> Response {
        let body = try await JSONBody.read(ChangeRequest.self, from: req, limit: bodyLimit)
        guard let source else {
            throw ServerError.notAllowed("models are deployed from the registry: alias or promote a version "
                                         + "through /api/v1 (or berth registry) instead of loading it")
        }
        guard configuration.modelControl == .explicit else {
            throw ServerError.notAllowed("explicit model \(load ? "load" : "unload") is not allowed with --model-control "
                                         + "\(configuration.modelControl.rawValue) (use --model-control explicit)")
        }
        if let p = body?.parameters, p.keys.contains(where: { $0 == "config" || $0.hasPrefix("file:") }) {
            throw ServerError.badRequest("overriding a model's config or files through the load request is not supported")
        }
        if load { try await source.load(model) } else { try await source.unload(model) }
        return ResponseFactory.ok()
    }
}
