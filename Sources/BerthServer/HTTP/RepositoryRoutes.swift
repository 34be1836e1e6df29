import HTTPTypes
import Hummingbird

/// The model repository extension: `POST /v2/repository/index`,
/// `POST /v2/repository/models/{m}/load` and `.../unload`.
struct RepositoryRoutes: Sendable {
    let manager: ModelManager
    let configuration: ServerConfiguration

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v2/repository/index") { req, _ in await index(req) }
        router.post("/v2/repository/models/:model/load") { req, ctx in
            await change(req, model: ctx.parameters.get("model")!, load: true)
        }
        router.post("/v2/repository/models/:model/unload") { req, ctx in
            await change(req, model: ctx.parameters.get("model")!, load: false)
        }
    }

    /// Reads an optional JSON object body.
    private func optionalObject(_ req: Request) async throws -> JSONValue? {
        let body = try await ResponseFactory.collect(req, limit: min(configuration.maxBodySize, 1 << 20))
        guard body.readableBytes > 0 else { return nil }
        let value: JSONValue = try body.withUnsafeReadableBytes { raw in
            var r = JSONReader(raw.bindMemory(to: UInt8.self))
            do { return try r.parse() } catch let e as JSONSyntaxError { throw ServerError.badRequest("\(e)") }
        }
        if value.isNull { return nil }
        guard case .object = value else { throw ServerError.badRequest("the request body must be a JSON object") }
        return value
    }

    func index(_ req: Request) async -> Response {
        do {
            let body = try await optionalObject(req)
            var readyOnly = false
            if let r = body?["ready"], !r.isNull {
                guard let b = r.boolValue else { throw ServerError.badRequest("'ready' must be a boolean") }
                readyOnly = b
            }
            var w = JSONWriter()
            w.array(manager.index().lazy.filter { !readyOnly || $0.state == .ready }) { w, e in
                w.raw("{\"name\":")
                w.string(e.name)
                if let v = e.version {
                    w.raw(",\"version\":")
                    w.string(String(v))
                }
                if let s = e.state {
                    w.raw(",\"state\":")
                    w.string(s.rawValue)
                    w.raw(",\"reason\":")
                    w.string(e.reason)
                }
                w.byte(0x7D)
            }
            return ResponseFactory.json(w)
        } catch {
            return ResponseFactory.error(ServerError.from(engine: error))
        }
    }

    func change(_ req: Request, model: String, load: Bool) async -> Response {
        do {
            let body = try await optionalObject(req)
            guard manager.repository != nil else {
                throw ServerError.notAllowed("models are deployed from the registry: alias or promote a version "
                                             + "through /api/v1 (or berth registry) instead of loading it")
            }
            guard configuration.modelControl == .explicit else {
                throw ServerError.notAllowed("explicit model \(load ? "load" : "unload") is not allowed with --model-control "
                                             + "\(configuration.modelControl.rawValue) (use --model-control explicit)")
            }
            if let p = body?["parameters"]?.objectValue, p.contains(where: { $0.0 == "config" || $0.0.hasPrefix("file:") }) {
                throw ServerError.badRequest("overriding a model's config or files through the load request is not supported")
            }
            if load { try await manager.load(model) } else { try await manager.unload(model) }
            return ResponseFactory.ok()
        } catch {
            return ResponseFactory.error(ServerError.from(engine: error))
        }
    }
}
