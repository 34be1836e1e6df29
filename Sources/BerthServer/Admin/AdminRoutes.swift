import BerthGate
import BerthRegistry
import Foundation
import HTTPTypes
import Hummingbird

/// The registry's admin REST API under `/api/v1` (docs/registry.md; OpenAPI document at
/// `/api/v1/openapi.json`). Changes go through the ``RegistryDeployer``, so promotions and
/// rollbacks have switched traffic by the time the call returns. Handlers throw; the group's
/// ``ErrorBodyMiddleware`` (and ``ServerError`` itself) render errors as `{"error": "..."}`.
struct AdminRoutes: Sendable {
    let deployer: RegistryDeployer
    let configuration: ServerConfiguration
    var registry: any Registry { deployer.registry }

    static let actorField = HTTPField.Name("x-berth-actor")!
    static let sha256Field = HTTPField.Name("x-berth-sha256")!
    /// Largest JSON body of an admin call.
    static let jsonLimit = 1 << 20

    func register(on router: Router<BerthRequestContext>) {
        let api = router.group("/api/v1")
        api.get("openapi.json") { _, _ in try openAPIDocument() }
        api.get("models") { _, ctx in try Response.json(ModelList(models: try registry.models().filter { ctx.maySee($0.name) })) }
        api.get("models/:name") { _, ctx in
            let name = try ctx.parameters.require("name")
            return try Response.json(ModelDetail(model: try registry.model(name), versions: try registry.versions(of: name),
                                                 traffic: try registry.traffic(name)))
        }
        api.post("models/:name/versions") { req, ctx in try await push(req, ctx, name: try ctx.parameters.require("name")) }
        api.put("models/:name/tenant") { req, ctx in
            guard let body = try await JSONBody.read(AdminBody.SetTenant.self, from: req, limit: Self.jsonLimit) else {
                throw ServerError.badRequest("the body needs 'tenant'")
            }
            let name = try ctx.parameters.require("name")
            guard let store = ctx.access?.store else {
                throw ServerError.notAllowed("model ownership needs authentication (the server runs with --insecure-no-auth)")
            }
            _ = try registry.model(name)
            try store.setOwner(model: name, tenant: body.tenant)
            ctx.access?.noteOwner(body.tenant, of: name)
            return try Response.json(try registry.model(name))
        }
        api.get("models/:name/versions") { _, ctx in
            try Response.json(VersionList(versions: try registry.versions(of: try ctx.parameters.require("name"))))
        }
        api.get("models/:name/versions/:ref") { _, ctx in
            try Response.json(try registry.version(try ctx.parameters.require("name"), VersionRef(try ctx.parameters.require("ref"))))
        }
        api.get("models/:name/versions/:ref/artifact") { _, ctx in
            try await artifact(try ctx.parameters.require("name"), try ctx.parameters.require("ref"))
        }
        api.delete("models/:name/versions/:ref") { req, ctx in
            let name = try ctx.parameters.require("name")
            guard let v = Int(try ctx.parameters.require("ref")) else { throw RegistryError.badInput("delete needs a version number") }
            let change = Change(actor: actor(req, ctx))
            _ = try await deployer.change { try $0.deleteVersion(name, v, change: change) }
            return try Response.json(AdminBody.Deleted(deleted: v))
        }
        api.put("models/:name/aliases/:alias") { req, ctx in
            guard let body = try await JSONBody.read(AdminBody.SetAlias.self, from: req, limit: Self.jsonLimit) else {
                throw ServerError.badRequest("the body needs 'version'")
            }
            return try Response.json(try await deployer.setAlias(try ctx.parameters.require("name"), try ctx.parameters.require("alias"),
                                                                 version: body.version, change: change(req, ctx, body.reason)))
        }
        api.delete("models/:name/aliases/:alias") { req, ctx in
            let name = try ctx.parameters.require("name")
            let alias = try ctx.parameters.require("alias")
            let body = try await JSONBody.read(AdminBody.RemoveAlias.self, from: req, limit: Self.jsonLimit)
            let change = change(req, ctx, body?.reason)
            return try Response.json(try await deployer.change { try $0.removeAlias(name, alias, change: change) })
        }
        api.post("models/:name/promote") { req, ctx in
            guard let body = try await JSONBody.read(AdminBody.Promote.self, from: req, limit: Self.jsonLimit) else {
                throw ServerError.badRequest("the body needs 'version'")
            }
            let gates: [Gate]
            do { gates = try (body.gates ?? []).map(Gate.init(expression:)) } catch { throw RegistryError.badInput("\(error)") }
            return try Response.json(try await deployer.promote(try ctx.parameters.require("name"), version: body.version, gates: gates,
                                                                alias: body.alias ?? "production", change: change(req, ctx, body.reason)))
        }
        api.post("models/:name/rollback") { req, ctx in
            let body = try await JSONBody.read(AdminBody.Rollback.self, from: req, limit: Self.jsonLimit)
            return try Response.json(try await deployer.rollback(try ctx.parameters.require("name"), alias: body?.alias ?? "production",
                                                                 change: change(req, ctx, body?.reason)))
        }
        api.get("models/:name/history") { req, ctx in
            let events = try registry.history(try ctx.parameters.require("name"), alias: FormQuery(req.uri.query).get("alias"))
            return try Response.json(EventList(events: events))
        }
        api.get("models/:name/traffic") { _, ctx in try Response.json(try registry.traffic(try ctx.parameters.require("name"))) }
        api.put("models/:name/traffic") { req, ctx in
            let name = try ctx.parameters.require("name")
            let body = try await JSONBody.read(AdminBody.Traffic.self, from: req, limit: Self.jsonLimit)
            func split(_ s: AdminBody.Traffic.Split?) -> TrafficPolicy.Split? { s.map { .init(alias: $0.alias, percent: $0.percent) } }
            let policy = TrafficPolicy(model: name, canary: split(body?.canary), shadow: split(body?.shadow))
            let change = change(req, ctx, body?.reason)
            return try Response.json(try await deployer.change { try $0.setTraffic(name, policy, change: change) })
        }
    }

    // MARK: Handlers

    /// `GET /api/v1/openapi.json`.
    func openAPIDocument() throws -> Response {
        guard let data = OpenAPIDocument.data else {
            throw HTTPError(.internalServerError, message: "the OpenAPI document is missing from the server's resource bundle")
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `POST …/versions`: streams the body into the store's tmp/ while hashing it, then records
    /// the version. A connection that dies mid-upload leaves only a temporary file.
    func push(_ req: Request, _ ctx: BerthRequestContext, name: String) async throws -> Response {
        let q = FormQuery(req.uri.query)
        var request = PushRequest(model: name, description: q.get("description"), actor: actor(req, ctx), reason: q.get("reason") ?? "")
        // A model belongs to the tenant whose key first pushed it (an admin may reassign it).
        request.tenant = ctx.principal.tenant
        request.enforceOwner = ctx.principal.role != .admin && ctx.access?.isOpen == false
        try request.apply(tags: q.getAll("tag"), params: q.getAll("param"), metricsJSON: q.get("metrics").map { Data($0.utf8) },
                          configJSON: q.get("config").map { Data($0.utf8) })
        request.parent = try q.integer("parent", what: "a version number")
        request.artifactSignature = try q.get("signature").map { try ArtifactSignature(text: $0) }
        request.trainingDataDigest = q.get("training_data_digest")
        request.allowSignatureChange = q.flag("allow_signature_change")
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
        if let trust = deployer.trust {
            do { try trust.check(model: name, version: nil, sha256: staged.sha256, signature: request.artifactSignature) } catch {
                writer.abandon()
                throw error
            }
        }
        let record = try await deployer.push(staged, request)
        if (try? registry.model(name))?.tenant == request.tenant { ctx.access?.noteOwner(request.tenant, of: name) }
        return try Response.json(record, status: .created)
    }

    /// `GET …/versions/{ref}/artifact`: the verified ONNX bytes.
    func artifact(_ name: String, _ ref: String) async throws -> Response {
        let registry = self.registry
        let (record, data) = try await blocking { () -> (VersionRecord, Data) in
            let (record, url) = try registry.artifact(name, VersionRef(ref))
            defer { registry.store.release(url) }
            return (record, try Data(contentsOf: url))
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[Self.sha256Field] = record.sha256
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: Helpers

    /// Who acts, for the history: the key (`key:ID@TENANT`, which a header cannot forge), with the
    /// `x-berth-actor` header's name after it when given; an open server takes the header alone.
    func actor(_ req: Request, _ ctx: BerthRequestContext) -> String {
        let named = req.headers[Self.actorField]
        guard let key = ctx.principal.keyID else { return named ?? "api" }
        let who = "key:\(key)@\(ctx.principal.tenant ?? "")"
        return named.map { "\(who) (\($0))" } ?? who
    }

    func change(_ req: Request, _ ctx: BerthRequestContext, _ reason: String?) -> Change {
        Change(actor: actor(req, ctx), reason: reason ?? "")
    }
}
