import BerthRegistry
@testable import BerthServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

/// `GET /api/v1/cluster` on an SQLite registry (a cluster of one), the route's permission, and
/// the status an unreachable registry database answers with.
final class ClusterRouteTests: XCTestCase {
    func testAnSQLiteServerListsItselfWithWhatItServes() async throws {
        let f = try RegistryFixture()
        let v = try await f.push(offset: 1)
        try await f.promote(v.version)
        let id = f.server.identity.id
        try await f.run { client in
            try await client.execute(uri: "/api/v1/cluster", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                XCTAssertEqual(doc["replica"] as? String, id)
                XCTAssertEqual(doc["shared"] as? Bool, false)
                let replicas = try XCTUnwrap(doc["replicas"] as? [[String: Any]])
                XCTAssertEqual(replicas.map { $0["id"] as? String }, [id])
                XCTAssertEqual(replicas.first?["loaded"] as? [String], ["adder:\(v.version)"])
            }
        }
    }

    func testTheClusterRouteNeedsAnAdmin() {
        XCTAssertEqual(RoutePermissions.permission(method: .get, route: "/api/v1/cluster"), .admin)
    }

    func testAnUnreachableDatabaseAnswers503() {
        let e = ServerError.registry(.unavailable("cannot connect"))
        XCTAssertEqual(e.status, .serviceUnavailable)
        XCTAssertTrue(e.description.contains("unavailable"), e.description)
        XCTAssertFalse(RegistryError.unavailable("x").isClientError)
    }
}
