import BerthMonitor
import BerthRegistry
@testable import BerthServer
import Foundation
import Hummingbird
import Logging
import XCTest

/// The OpenAPI document (Resources/openapi.json) describes exactly the admin routes the server
/// registers, and its internal references hold together.
final class OpenAPIDocumentTests: XCTestCase {
    private static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    private func document() throws -> [String: Any] {
        let data = try XCTUnwrap(OpenAPIDocument.data, "openapi.json is in the BerthServer resource bundle")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// `/api/v1/models/:name` and `/api/v1/models/{name}` → `/api/v1/models/{name}`.
    private static func openAPIPath(_ routerPath: String) -> String {
        routerPath.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
        }.joined(separator: "/")
    }

    private func registeredAdminRoutes() throws -> Set<String> {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("berth-openapi-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var logger = Logger(label: "berth.test")
        logger.logLevel = .critical
        let manager = ModelManager(repository: nil, logger: logger)
        let deployer = RegistryDeployer(registry: try SQLiteRegistry(dataDirectory: scratch), manager: manager, logger: logger)
        let log = try PredictionLog(directory: scratch)
        let monitoring = Monitoring(log: log, references: ReferenceStore(dataDirectory: scratch), rules: [], registry: manager.metrics.registry)
        let router = BerthHTTPServer(manager: manager, configuration: ServerConfiguration(), deployer: deployer, monitoring: monitoring,
                                     logger: logger).makeRouter()
        return Set(router.routes.map { ($0.method.rawValue.lowercased(), Self.openAPIPath("\($0.path)")) }
            .filter { $0.1.hasPrefix("/api/") }.map { "\($0.0) \($0.1)" })
    }

    func testDocumentListsExactlyTheRegisteredAdminRoutes() throws {
        let doc = try document()
        let paths = try XCTUnwrap(doc["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, item) in paths {
            for method in item.keys where Self.methods.contains(method) { documented.insert("\(method) \(Self.openAPIPath(path))") }
        }
        let registered = try registeredAdminRoutes()
        XCTAssertGreaterThan(registered.count, 10, "the admin routes were found on the router")
        XCTAssertEqual(registered.subtracting(documented).sorted(), [], "routes the document does not describe")
        XCTAssertEqual(documented.subtracting(registered).sorted(), [], "documented routes the server does not have")
    }

    func testDocumentIsOpenAPI31WithConsistentParametersAndReferences() throws {
        let doc = try document()
        XCTAssertEqual(doc["openapi"] as? String, "3.1.0")
        let paths = try XCTUnwrap(doc["paths"] as? [String: [String: Any]])
        var operationIds: [String] = []
        for (path, item) in paths {
            let templated = Set(path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
            let shared = try pathParameters(item["parameters"], in: doc)
            for (method, value) in item where Self.methods.contains(method) {
                let operation = try XCTUnwrap(value as? [String: Any], "\(method) \(path)")
                operationIds.append(try XCTUnwrap(operation["operationId"] as? String, "\(method) \(path) has an operationId"))
                XCTAssertNotNil(operation["responses"], "\(method) \(path) has responses")
                let names = shared.union(try pathParameters(operation["parameters"], in: doc))
                XCTAssertEqual(names, templated, "\(method) \(path): path parameters match the template")
            }
        }
        XCTAssertEqual(Set(operationIds).count, operationIds.count, "operationIds are unique")
        var refs: [String] = []
        collectRefs(doc, into: &refs)
        XCTAssertFalse(refs.isEmpty)
        for ref in refs { XCTAssertNotNil(resolve(ref, in: doc), "\(ref) resolves") }
    }

    /// The names of the `in: path` parameters of a parameter list (references resolved).
    private func pathParameters(_ list: Any?, in doc: [String: Any]) throws -> Set<String> {
        guard let list = list as? [[String: Any]] else { return [] }
        var names = Set<String>()
        for p in list {
            let parameter = try XCTUnwrap((p["$ref"] as? String).map { resolve($0, in: doc) } ?? p, "\(p)")
            if parameter["in"] as? String == "path", let name = parameter["name"] as? String { names.insert(name) }
        }
        return names
    }

    private func collectRefs(_ value: Any, into refs: inout [String]) {
        if let o = value as? [String: Any] {
            if let r = o["$ref"] as? String { refs.append(r) }
            for v in o.values { collectRefs(v, into: &refs) }
        } else if let a = value as? [Any] {
            for v in a { collectRefs(v, into: &refs) }
        }
    }

    /// `#/components/schemas/Model` → that object.
    private func resolve(_ ref: String, in doc: [String: Any]) -> [String: Any]? {
        guard ref.hasPrefix("#/") else { return nil }
        var node: Any = doc
        for key in ref.dropFirst(2).split(separator: "/") {
            guard let next = (node as? [String: Any])?[String(key)] else { return nil }
            node = next
        }
        return node as? [String: Any]
    }
}
