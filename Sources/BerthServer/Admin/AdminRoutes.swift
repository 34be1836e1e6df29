import BerthGate
import BerthRegistry
import Foundation
import HTTPTypes
import Hummingbird

/// The registry's admin REST API under `/api/v1` (docs/registry.md; OpenAPI document at
/// `/api/v1/openapi.json`). Changes go through the ``RegistryDeployer``, so promotions and
/// rollbacks have switched traffic by the time the call returns.
struct AdminRoutes: Sendable {
    let deployer: RegistryDeployer
    let configuration: ServerConfiguration
    var registry: any Registry { deployer.registry }

    static let actorField = HTTPField.Name("x-berth-actor")!
    static let sha256Field = HTTPField.Name("x-berth-sha256")!
    /// Largest JSON body of an admin call.
    static let jsonLimit = 1 << 20

    func register(on router: Router<BasicRequestContext>) {
        let api = router.group("/api/v1")
        api.get("openapi.json") { _, _ in
            Self.json(Data(OpenAPIDocument.json.utf8))
        }
        api.get("models") { _, _ in
            await handle { ["models": try registry.models()] }
        }
        api.get("models/:name") { _, ctx in
            await handle { () -> ModelDetail in
                let name = try ctx.parameters.require("name")
                return ModelDetail(model: try registry.model(name), versions: try registry.versions(of: name),
                                   traffic: try registry.traffic(name))
            }
        }
        api.post("models/:name/versions") { req, ctx in await push(req, name: try ctx.parameters.require("name")) }
        api.get("models/:name/versions") { _, ctx in
            await handle { ["versions": try registry.versions(of: try ctx.parameters.require("name"))] }
        }
        api.get("models/:name/versions/:ref") { _, ctx in
            await handle { try registry.version(try ctx.parameters.require("name"), VersionRef(try ctx.parameters.require("ref"))) }
        }
        api.get("models/:name/versions/:ref/artifact") { _, ctx in
            await artifact(try ctx.parameters.require("name"), try ctx.parameters.require("ref"))
        }
        api.delete("models/:name/versions/:ref") { req, ctx in
            await handle { () -> [String: Int] in
                let name = try ctx.parameters.require("name")
                guard let v = Int(try ctx.parameters.require("ref")) else { throw RegistryError.badInput("delete needs a version number") }
                let change = Change(actor: actor(req))
                _ = try await deployer.change { try $0.deleteVersion(name, v, change: change) }
                return ["deleted": v]
            }
        }
        api.put("models/:name/aliases/:alias") { req, ctx in
            await handle { () -> RegistryEvent in
                let body = try await object(req)
                guard let v = body["version"] as? Int else { throw RegistryError.badInput("the body needs an integer 'version'") }
                return try await deployer.setAlias(try ctx.parameters.require("name"), try ctx.parameters.require("alias"), version: v,
                                                   change: try change(req, body))
            }
        }
        api.delete("models/:name/aliases/:alias") { req, ctx in
            await handle { () -> RegistryEvent in
                let name = try ctx.parameters.require("name")
                let alias = try ctx.parameters.require("alias")
                let change = try change(req, try await object(req))
                return try await deployer.change { try $0.removeAlias(name, alias, change: change) }
            }
        }
        api.post("models/:name/promote") { req, ctx in
            await handle { () -> RegistryEvent in
                let body = try await object(req)
                guard let v = body["version"] as? Int else { throw RegistryError.badInput("the body needs an integer 'version'") }
                guard let texts = (body["gates"] ?? [String]()) as? [String] else {
                    throw RegistryError.badInput("'gates' must be an array of strings such as \"accuracy>=0.9\"")
                }
                let gates: [Gate]
                do { gates = try texts.map(Gate.init(expression:)) } catch { throw RegistryError.badInput("\(error)") }
                return try await deployer.promote(try ctx.parameters.require("name"), version: v, gates: gates,
                                                  alias: try alias(body), change: try change(req, body))
            }
        }
        api.post("models/:name/rollback") { req, ctx in
            await handle { () -> RegistryEvent in
                let body = try await object(req)
                return try await deployer.rollback(try ctx.parameters.require("name"), alias: try alias(body), change: try change(req, body))
            }
        }
        api.get("models/:name/history") { req, ctx in
            await handle { ["events": try registry.history(try ctx.parameters.require("name"), alias: FormQuery(req.uri.query).get("alias"))] }
        }
        api.get("models/:name/traffic") { _, ctx in
            await handle { try registry.traffic(try ctx.parameters.require("name")) }
        }
        api.put("models/:name/traffic") { req, ctx in
            await handle { () -> TrafficPolicy in
                let name = try ctx.parameters.require("name")
                let body = try await object(req)
                let policy = TrafficPolicy(model: name, canary: try split(body, "canary"), shadow: try split(body, "shadow"))
                let change = try change(req, body)
                return try await deployer.change { try $0.setTraffic(name, policy, change: change) }
            }
        }
    }

    // MARK: Handlers

    /// `POST …/versions`: streams the body into the store's tmp/ while hashing it, then records
    /// the version. A connection that dies mid-upload leaves only a temporary file.
    func push(_ req: Request, name: String) async -> Response {
        await handle(status: .created) { () -> VersionRecord in
            let q = FormQuery(req.uri.query)
            var request = PushRequest(model: name, description: q.get("description"), actor: actor(req), reason: q.get("reason") ?? "")
            try request.apply(tags: q.getAll("tag"), params: q.getAll("param"), metricsJSON: q.get("metrics").map { Data($0.utf8) },
                              configJSON: q.get("config").map { Data($0.utf8) })
            if let p = q.get("parent") {
                guard let n = Int(p) else { throw RegistryError.badInput("parent '\(p)' is not a version number") }
                request.parent = n
            }
            request.trainingDataDigest = q.get("training_data_digest")
            request.allowSignatureChange = q.get("allow_signature_change").map { $0 == "true" || $0 == "1" } ?? false
            let writer = try registry.store.makeWriter()
            let staged: StagedArtifact
            do {
                var total = 0
                for try await buffer in req.body {
                    total += buffer.readableBytes
                    guard total <= configuration.maxModelSize else { throw ServerError.bodyTooLarge(limit: configuration.maxModelSize) }
                    try buffer.withUnsafeReadableBytes { try writer.write($0) }
                }
                staged = try writer.finish()
            } catch {
                writer.abandon()
                throw error
            }
            return try await deployer.push(staged, request)
        }
    }

    /// `GET …/versions/{ref}/artifact`: the verified ONNX bytes.
    func artifact(_ name: String, _ ref: String) async -> Response {
        do {
            let registry = self.registry
            let (record, data) = try await blocking { () -> (VersionRecord, Data) in
                let (record, url) = try registry.artifact(name, VersionRef(ref))
                return (record, try Data(contentsOf: url))
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            headers[Self.sha256Field] = record.sha256
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            return ResponseFactory.error(ServerError.from(engine: error))
        }
    }

    // MARK: Helpers

    /// Runs a handler and encodes its result, or the error as `{"error"}` with its status.
    func handle<T: Encodable>(status: HTTPResponse.Status = .ok, _ body: () async throws -> T) async -> Response {
        do {
            return Self.json(try RegistryJSON.encode(try await body()), status: status)
        } catch {
            return ResponseFactory.error(ServerError.from(engine: error))
        }
    }

    static func json(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The JSON object body (an empty body is `{}`).
    func object(_ req: Request) async throws -> [String: Any] {
        let buffer = try await ResponseFactory.collect(req, limit: Self.jsonLimit)
        guard buffer.readableBytes > 0 else { return [:] }
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: Data(buffer: buffer)) } catch {
            throw ServerError.badRequest("the body is not valid JSON: \(error.localizedDescription)")
        }
        guard let object = value as? [String: Any] else { throw ServerError.badRequest("the body must be a JSON object") }
        return object
    }

    func actor(_ req: Request) -> String { req.headers[Self.actorField] ?? "api" }

    func change(_ req: Request, _ body: [String: Any]) throws -> Change {
        guard let reason = (body["reason"] ?? "") as? String else { throw RegistryError.badInput("'reason' must be a string") }
        return Change(actor: actor(req), reason: reason)
    }

    func alias(_ body: [String: Any]) throws -> String {
        guard let a = (body["alias"] ?? "production") as? String else { throw RegistryError.badInput("'alias' must be a string") }
        return a
    }

    func split(_ body: [String: Any], _ key: String) throws -> TrafficPolicy.Split? {
        guard let value = body[key], !(value is NSNull) else { return nil }
        guard let o = value as? [String: Any], let alias = o["alias"] as? String, let percent = (o["percent"] as? NSNumber)?.doubleValue,
              !(o["percent"] is Bool) else {
            throw RegistryError.badInput("'\(key)' must be null or {\"alias\": NAME, \"percent\": 0-100}")
        }
        return TrafficPolicy.Split(alias: alias, percent: percent)
    }
}
