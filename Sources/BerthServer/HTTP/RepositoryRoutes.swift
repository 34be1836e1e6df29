import BerthRegistry
import HTTPTypes
import Hummingbird

/// The model repository extension: `POST /v2/repository/index`,
/// `POST /v2/repository/models/{m}/load` and `.../unload`. Handlers throw; the group's
/// ``ErrorBodyMiddleware`` (and ``ServerError`` itself) render errors as `{"error": "..."}`.
struct RepositoryRoutes: Sendable {
    let configuration: ServerConfiguration
    let control: RepositoryControl

    init(manager: ModelManager, configuration: ServerConfiguration) {
        self.configuration = configuration
        control = RepositoryControl(manager: manager, configuration: configuration)
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

    func register(on router: Router<BerthRequestContext>) {
        let repository = router.group("/v2/repository")
        repository.post("index") { req, ctx in try await index(req, ctx) }
        repository.post("models/:model/load") { req, ctx in
            try await change(req, model: try ctx.parameters.require("model"), load: true)
        }
        repository.post("models/:model/unload") { req, ctx in
            try await change(req, model: try ctx.parameters.require("model"), load: false)
        }
    }

    private var bodyLimit: Int { min(configuration.maxBodySize, 1 << 20) }

    func index(_ req: Request, _ ctx: BerthRequestContext) async throws -> Response {
        let readyOnly = try await JSONBody.read(IndexRequest.self, from: req, limit: bodyLimit)?.ready ?? false
        let entries = control.index(readyOnly: readyOnly).filter { ctx.maySee($0.name) }.map { e in
            IndexEntry(name: e.name, version: e.version.map(String.init), state: e.state?.rawValue, reason: e.state.map { _ in e.reason })
        }
        return try Response.json(entries)
    }

    func change(_ req: Request, model: String, load: Bool) async throws -> Response {
        let body = try await JSONBody.read(ChangeRequest.self, from: req, limit: bodyLimit)
        try await control.change(model: model, load: load, parameterNames: body?.parameters.map { Array($0.keys) } ?? [])
        return ResponseFactory.ok()
    }
}
