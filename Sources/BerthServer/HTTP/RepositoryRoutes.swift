import BerthProtocol
import Foundation
import HTTPTypes
import Hummingbird

/// The model repository extension: `POST /v2/repository/index`,
/// `POST /v2/repository/models/{m}/load` and `.../unload`.
struct RepositoryRoutes: Sendable {
    let manager: ModelManager
    let configuration: ServerConfiguration

    /// `POST /v2/repository/index` body: `{"ready": true}` lists only ready versions.
    struct IndexRequest: Decodable { var ready: Bool? }

    /// One row of the repository index.
    struct IndexEntry: Encodable {
        var name: String
        var version: String?
        var state: String?
        var reason: String?
    }

    /// A load/unload body: `{"parameters": {...}}`.
    struct ChangeRequest: Decodable { var parameters: [String: JSONIgnored]? }

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v2/repository/index") { req, _ in try await index(req) }
        router.post("/v2/repository/models/:model/load") { req, ctx in try await change(req, model: ctx.model, load: true) }
        router.post("/v2/repository/models/:model/unload") { req, ctx in try await change(req, model: ctx.model, load: false) }
    }

    /// Reads an optional JSON object body (empty or `null` gives nil).
    private func optionalBody<T: Decodable>(_ req: Request, as: T.Type) async throws -> T? {
        let body = try await ResponseFactory.collect(req, limit: min(configuration.maxBodySize, 1 << 20))
        guard body.readableBytes > 0 else { return nil }
        let data = Data(body.readableBytesView)
        if (try? CodableJSON.decode(JSONIgnored?.self, from: data)) == .some(nil) { return nil }
        do { return try CodableJSON.decode(T.self, from: data) } catch let e as DecodingError {
            if case .typeMismatch(_, let c) = e, c.codingPath.isEmpty { throw ServerError.badRequest("the request body must be a JSON object") }
            throw ServerError.badRequest(e.fieldMessage)
        }
    }

    func index(_ req: Request) async throws -> Response {
        let readyOnly = try await optionalBody(req, as: IndexRequest.self)?.ready ?? false
        let entries = manager.index().filter { !readyOnly || $0.state == .ready }.map { e in
            IndexEntry(name: e.name, version: e.version.map(String.init), state: e.state?.rawValue,
                       reason: e.state == nil ? nil : e.reason)
        }
        return ResponseFactory.json(entries)
    }

    func change(_ req: Request, model: String, load: Bool) async throws -> Response {
        let body = try await optionalBody(req, as: ChangeRequest.self)
        guard manager.repository != nil else {
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
        if load { try await manager.load(model) } else { try await manager.unload(model) }
        return ResponseFactory.ok()
    }
}

/// Any JSON value, read and thrown away (a field whose presence matters, not its content).
struct JSONIgnored: Decodable, Equatable {
    init(from decoder: Decoder) throws {
        if var a = try? decoder.unkeyedContainer() {
            while !a.isAtEnd { _ = try a.decode(JSONIgnored.self) }
        } else if let o = try? decoder.container(keyedBy: AnyKey.self) {
            for k in o.allKeys { _ = try o.decode(JSONIgnored.self, forKey: k) }
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
