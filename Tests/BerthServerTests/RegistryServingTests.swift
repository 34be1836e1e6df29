import BerthGate
import BerthRegistry
@testable import BerthServer
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import XCTest

/// A registry in a temporary data directory, a manager fed only by the registry, its deployer and
/// the server's router (docs/registry.md, "Serving from the registry" and "Admin REST API").
final class RegistryFixture: Sendable {
    let scratch: URL
    let dataDirectory: URL
    let registry: SQLiteRegistry
    let manager: ModelManager
    let deployer: RegistryDeployer
    let server: BerthHTTPServer
    let name = "adder"

    init(retryInterval: Duration = .seconds(30)) throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("berth-registry-serving-\(UUID().uuidString)")
        dataDirectory = scratch.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("inputs"), withIntermediateDirectories: true)
        var logger = Logger(label: "berth.test")
        logger.logLevel = .critical
        registry = try SQLiteRegistry(dataDirectory: dataDirectory)
        manager = ModelManager(repository: nil, logger: logger)
        deployer = RegistryDeployer(registry: registry, manager: manager, retryInterval: retryInterval, logger: logger)
        server = BerthHTTPServer(manager: manager, configuration: ServerConfiguration(), deployer: deployer, logger: logger)
        manager.markStarted()
    }

    /// Runs `body` against the router (no services: the test drives the deployer), then cleans up.
    func run(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: server.makeRouter())
        do {
            try await app.test(.router) { client in try await body(client) }
        } catch {
            await cleanup()
            throw error
        }
        await cleanup()
    }

    func cleanup() async {
        await manager.shutdown()
        try? FileManager.default.removeItem(at: scratch)
    }

    // MARK: Registry operations (through the deployer, as the admin API does)

    @discardableResult
    func push(offset: Float, metrics: [String: Double] = [:], producer: String = "berth-server-tests") async throws -> VersionRecord {
        let url = scratch.appendingPathComponent("inputs").appendingPathComponent(UUID().uuidString + ".onnx")
        try TestModels.adder(offset: offset, producer: producer).write(to: url)
        return try await deployer.push(try registry.store.stage(copying: url), PushRequest(model: name, metrics: metrics, actor: "test"))
    }

    @discardableResult
    func promote(_ version: Int, gates: [Gate] = []) async throws -> RegistryEvent {
        try await deployer.promote(name, version: version, gates: gates, alias: "production", change: Change(actor: "test"))
    }

    @discardableResult
    func alias(_ alias: String, _ version: Int) async throws -> RegistryEvent {
        try await deployer.setAlias(name, alias, version: version, change: Change(actor: "test"))
    }

    func production() throws -> Int? { try registry.model(name).aliases["production"] }

    // MARK: HTTP

    static let input: [Float] = [1, 2, 3, 4]

    static func inferBody(_ x: [Float] = input) -> ByteBuffer {
        let data = x.map { "\($0)" }.joined(separator: ",")
        return ByteBuffer(string: #"{"inputs":[{"name":"X","shape":[1,4],"datatype":"FP32","data":[\#(data)]}]}"#)
    }

    func infer(_ client: any TestClientProtocol, version: Int? = nil, key: String? = nil,
               x: [Float] = input) async throws -> TestResponse {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let key { headers[HTTPField.Name("x-berth-routing-key")!] = key }
        let path = version.map { "/v2/models/\(name)/versions/\($0)/infer" } ?? "/v2/models/\(name)/infer"
        return try await client.executeRequest(uri: path, method: .post, headers: headers, body: Self.inferBody(x))
    }

    /// The answered version and the output `Y` of a successful inference.
    /// Versions 1 and 2 (outputs x + 1 and x + 2), production = 1: where most tests start.
    func pushTwoVersionsPromotingTheFirst() async throws {
        try await push(offset: 1)
        try await push(offset: 2)
        try await promote(1)
    }

    /// Sends one request and checks which version answered and that its output is that
    /// version's (`offset`).
    func expectServes(_ client: any TestClientProtocol, path version: Int? = nil, key: String? = nil, version expected: Int, offset: Int,
                      file: StaticString = #filePath, line: UInt = #line) async throws {
        let s = try served(try await infer(client, version: version, key: key), file: file, line: line)
        XCTAssertEqual(s.version, String(expected), file: file, line: line)
        XCTAssertEqual(s.y, Self.expected(offset: Float(offset)), file: file, line: line)
    }

    func served(_ r: TestResponse, file: StaticString = #filePath, line: UInt = #line) throws -> (version: String?, y: [Float]) {
        XCTAssertEqual(r.status, .ok, Self.text(r), file: file, line: line)
        let body = try Self.json(r)
        let outputs = body["outputs"] as? [[String: Any]] ?? []
        let y = outputs.first { $0["name"] as? String == "Y" }?["data"] as? [NSNumber] ?? []
        return (body["model_version"] as? String, y.map(\.floatValue))
    }

    static func expected(offset: Float, x: [Float] = input) -> [Float] { x.map { $0 + offset } }

    static func text(_ r: TestResponse) -> String { String(buffer: r.body) }

    static func json(_ r: TestResponse) throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any] else {
            XCTFail("body is not a JSON object: \(text(r))")
            return [:]
        }
        return o
    }

    static func errorText(_ r: TestResponse) -> String { ((try? json(r))?["error"] as? String) ?? "" }

    static func jsonBody(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    /// `series → value` of the Prometheus exposition.
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = v
        }
        return out
    }

    static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}

final class RegistryServingTests: XCTestCase {
    // MARK: Routing

    func testWithoutProductionInferAnswers503NamingProduction() async throws {
        let f = try RegistryFixture()
        try await f.push(offset: 1)
        try await f.push(offset: 2)
        // An alias other than production makes the model served, but leaves no default version.
        try await f.alias("staging", 1)
        XCTAssertNil(try f.production())
        try await f.run { client in
            let r = try await f.infer(client)
            XCTAssertEqual(r.status, .serviceUnavailable, RegistryFixture.text(r))
            XCTAssertTrue(RegistryFixture.errorText(r).contains("production"), RegistryFixture.text(r))
            // The aliased version is reachable by number meanwhile.
            let v1 = try f.served(try await f.infer(client, version: 1))
            XCTAssertEqual(v1.version, "1")
            XCTAssertEqual(v1.y, RegistryFixture.expected(offset: 1))
            // A routing key does not help either.
            let keyed = try await f.infer(client, key: "user-1")
            XCTAssertEqual(keyed.status, .serviceUnavailable)
        }
    }

    func testPromotePromoteRollbackSwitchServedVersion() async throws {
        let f = try RegistryFixture()
        let v1 = try await f.push(offset: 1)
        let v2 = try await f.push(offset: 2)
        XCTAssertEqual(v1.signature, v2.signature, "the two versions must share a signature")
        XCTAssertNotEqual(v1.sha256, v2.sha256)
        try await f.run { client in
            let e1 = try await f.promote(1)
            XCTAssertEqual(e1.action, .promote)
            XCTAssertEqual(e1.to, 1)
            XCTAssertNil(e1.from)
            try await f.expectServes(client, version: 1, offset: 1)

            let e2 = try await f.promote(2)
            XCTAssertEqual(e2.from, 1)
            XCTAssertEqual(e2.to, 2)
            // The switch happened before promote returned: the very next request is version 2.
            try await f.expectServes(client, version: 2, offset: 2)
            XCTAssertEqual(try f.production(), 2)

            let e3 = try await f.deployer.rollback(f.name, alias: "production", change: Change(actor: "test"))
            XCTAssertEqual(e3.action, .rollback)
            XCTAssertEqual(e3.from, 2)
            XCTAssertEqual(e3.to, 1)
            try await f.expectServes(client, version: 1, offset: 1)
            XCTAssertEqual(try f.production(), 1)

            // Version 2 has no alias any more: it is not served.
            let gone = try await f.infer(client, version: 2)
            XCTAssertEqual(gone.status, .notFound, RegistryFixture.text(gone))
        }
    }

    func testNonAliasedVersionIs404() async throws {
        let f = try RegistryFixture()
        try await f.pushTwoVersionsPromotingTheFirst()
        try await f.run { client in
            let r = try await f.infer(client, version: 2)
            XCTAssertEqual(r.status, .notFound, RegistryFixture.text(r))
            XCTAssertFalse(RegistryFixture.errorText(r).isEmpty, "404 without an error message")
            let unknown = try await f.infer(client, version: 99)
            XCTAssertEqual(unknown.status, .notFound)
            let s = try f.served(try await f.infer(client, version: 1))
            XCTAssertEqual(s.version, "1")
        }
    }

    /// docs/registry.md: "Other versions are not served; a request for one gets 404 with a hint
    /// to alias it."
    func testNonAliasedVersion404HintsToAliasIt() async throws {
        let f = try RegistryFixture()
        try await f.pushTwoVersionsPromotingTheFirst()
        try await f.run { client in
            let r = try await f.infer(client, version: 2)
            XCTAssertEqual(r.status, .notFound)
            XCTAssertTrue(RegistryFixture.errorText(r).lowercased().contains("alias"),
                          "the 404 for an existing but unaliased version should hint to alias it; got: \(RegistryFixture.text(r))")
        }
    }

    func testCanaryAtFiftyPercentIsStickyPerRoutingKey() async throws {
        let f = try RegistryFixture()
        try await f.pushTwoVersionsPromotingTheFirst()
        try await f.alias("candidate", 2)
        try await f.run { client in
            let put = try await client.executeRequest(
                uri: "/api/v1/models/\(f.name)/traffic", method: .put, headers: [:],
                body: RegistryFixture.jsonBody(#"{"canary": {"alias": "candidate", "percent": 50}, "reason": "try v2"}"#))
            XCTAssertEqual(put.status, .ok, RegistryFixture.text(put))
            let traffic = try RegistryFixture.json(put)
            let canary = traffic["canary"] as? [String: Any]
            XCTAssertEqual(canary?["alias"] as? String, "candidate")
            XCTAssertEqual((canary?["percent"] as? NSNumber)?.doubleValue, 50)
            XCTAssertEqual(canary?["version"] as? Int, 2)
            XCTAssertEqual(f.manager.route(of: f.name)?.canary, TrafficRoute.Share(version: 2, percent: 50))

            let reference = TrafficRoute(primary: 1, canary: .init(version: 2, percent: 50))
            let keys = (0..<40).map { "customer-\($0)" }
            var seen: [String: Set<String>] = [:]
            var perVersion: [String: Int] = [:]
            for round in 0..<5 {
                for key in keys {
                    let s = try f.served(try await f.infer(client, key: key, x: [Float(round), 1, 2, 3]))
                    let v = s.version ?? "?"
                    seen[key, default: []].insert(v)
                    perVersion[v, default: 0] += 1
                    // The answer is really the named version's.
                    XCTAssertEqual(s.y, RegistryFixture.expected(offset: v == "2" ? 2 : 1, x: [Float(round), 1, 2, 3]))
                }
            }
            XCTAssertEqual(perVersion.values.reduce(0, +), 200)
            for key in keys {
                XCTAssertEqual(seen[key]?.count, 1, "key \(key) landed on \(seen[key] ?? [])")
                // The side is the hash of the key, as TrafficRoute computes it.
                XCTAssertEqual(seen[key]?.first, reference.pick(key: key).map { String($0.version) }, key)
            }
            XCTAssertGreaterThan(perVersion["1"] ?? 0, 0, "no key reached production")
            XCTAssertGreaterThan(perVersion["2"] ?? 0, 0, "no key reached the canary")
            XCTAssertEqual(Set(perVersion.keys), ["1", "2"])

            // The routed counter splits the same way.
            let metrics = try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
            let m = RegistryFixture.samples(RegistryFixture.text(metrics))
            XCTAssertEqual(m[#"berth_routed_requests_total{model="adder",version="1",route="production"}"#].map { Int($0) }, perVersion["1"])
            XCTAssertEqual(m[#"berth_routed_requests_total{model="adder",version="2",route="canary"}"#].map { Int($0) }, perVersion["2"])
        }
    }

    func testShadowRequestsAreComparedAndCounted() async throws {
        let f = try RegistryFixture()
        try await f.pushTwoVersionsPromotingTheFirst()
        try await f.alias("shadow", 2)
        try await f.run { client in
            let put = try await client.executeRequest(uri: "/api/v1/models/\(f.name)/traffic", method: .put, headers: [:],
                                                      body: RegistryFixture.jsonBody(#"{"shadow": {"alias": "shadow", "percent": 100}}"#))
            XCTAssertEqual(put.status, .ok, RegistryFixture.text(put))
            for _ in 0..<5 {
                let s = try f.served(try await f.infer(client))
                // The caller gets production's answer; the shadow's is only compared.
                XCTAssertEqual(s.version, "1")
                XCTAssertEqual(s.y, RegistryFixture.expected(offset: 1))
            }
            // Y = X + 2 vs X + 1: the same argmax per row, a max abs diff of exactly 1.
            let agree = #"berth_shadow_requests_total{model="adder",version="2",outcome="agree"}"#
            var m: [String: Double] = [:]
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let r = try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
                m = RegistryFixture.samples(RegistryFixture.text(r))
                if m[agree] == 5 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            XCTAssertEqual(m[agree], 5)
            XCTAssertEqual(m[#"berth_shadow_requests_total{model="adder",version="2",outcome="disagree"}"#] ?? 0, 0)
            XCTAssertEqual(m[#"berth_shadow_max_abs_diff_count{model="adder",version="2"}"#], 5)
            XCTAssertEqual(m[#"berth_shadow_max_abs_diff_sum{model="adder",version="2"}"#], 5)
            XCTAssertEqual(m[#"berth_routed_requests_total{model="adder",version="1",route="production"}"#], 5)
            XCTAssertNil(m[#"berth_routed_requests_total{model="adder",version="2",route="production"}"#])
        }
    }

    enum Byte { case first, last }

    /// Versions 1–3 pushed, 1 in production, then version 3's artifact damaged after the push:
    /// same size, one byte flipped.
    static func threeVersionsWithCorruptThird(flipping byte: Byte) async throws -> RegistryFixture {
        let f = try RegistryFixture()
        try await f.push(offset: 1)
        try await f.push(offset: 2)
        let v3 = try await f.push(offset: 3)
        try await f.promote(1)
        let file = f.registry.store.url(sha256: v3.sha256)
        var bytes = try Data(contentsOf: file)
        XCTAssertEqual(Int64(bytes.count), v3.size)
        bytes[byte == .first ? 0 : bytes.count - 1] ^= 0xFF
        try bytes.write(to: file)
        return f
    }

    func testPromotionOfCorruptArtifactFailsAndOldVersionKeepsServing() async throws {
        let f = try await Self.threeVersionsWithCorruptThird(flipping: .last)
        let historyBefore = try f.registry.history(f.name, alias: nil)

        try await f.run { client in
            do {
                try await f.promote(3)
                XCTFail("promoting a version whose artifact fails its checksum must fail")
            } catch {
                let text = "\(error)"
                XCTAssertTrue(text.contains("3"), "the error should name the version: \(text)")
                XCTAssertTrue(text.lowercased().contains("corrupt") || text.lowercased().contains("checksum")
                              || text.lowercased().contains("unusable"), "the error should give the reason: \(text)")
            }
            XCTAssertEqual(try f.production(), 1)
            XCTAssertEqual(try f.registry.history(f.name, alias: nil), historyBefore, "a failed promotion must not be recorded")
            try await f.expectServes(client, version: 1, offset: 1)
            // The failed version was not left loaded.
            let v3r = try await f.infer(client, version: 3)
            XCTAssertEqual(v3r.status, .notFound, RegistryFixture.text(v3r))

            // Through the admin API: refused with the reason, nothing moves.
            let r = try await client.executeRequest(uri: "/api/v1/models/\(f.name)/promote", method: .post, headers: [:],
                                                    body: RegistryFixture.jsonBody(#"{"version": 3}"#))
            XCTAssertGreaterThanOrEqual(r.status.code, 400, RegistryFixture.text(r))
            XCTAssertTrue(RegistryFixture.errorText(r).contains("3"), RegistryFixture.text(r))
            XCTAssertEqual(try f.production(), 1)
            try await f.expectServes(client, version: 1, offset: 1)

            // A healthy version still promotes afterwards.
            try await f.promote(2)
            try await f.expectServes(client, version: 2, offset: 2)
        }
    }

    func testRollbackToCorruptVersionFailsAndAliasStays() async throws {
        let f = try RegistryFixture()
        let v1 = try await f.push(offset: 1)
        try await f.push(offset: 2)
        try await f.promote(1)
        try await f.promote(2)
        // Version 1 is no longer aliased, so it was unloaded; its file is read again on rollback.
        let file = f.registry.store.url(sha256: v1.sha256)
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: file)
        try await f.run { client in
            do {
                try await f.deployer.rollback(f.name, alias: "production", change: Change(actor: "test"))
                XCTFail("a rollback to a version whose artifact fails its checksum must fail")
            } catch {
                XCTAssertTrue("\(error)".contains("1"), "\(error)")
            }
            XCTAssertEqual(try f.production(), 2)
            XCTAssertEqual(try f.registry.history(f.name, alias: nil).last?.action, .promote)
            try await f.expectServes(client, version: 2, offset: 2)
        }
    }

    /// Changes made by another process (the CLI) are picked up by the next sync.
    func testSyncPicksUpPromotionByAnotherProcess() async throws {
        let f = try RegistryFixture()
        try await f.pushTwoVersionsPromotingTheFirst()
        let cli = try SQLiteRegistry(dataDirectory: f.dataDirectory)
        XCTAssertEqual(try f.registry.revision(), try cli.revision(), "two handles must see one revision")
        try await f.run { client in
            try cli.promote(f.name, version: 2, gates: [], alias: "production", change: Change(actor: "cli"))
            // Not yet synced: still version 1.
            var s = try f.served(try await f.infer(client))
            XCTAssertEqual(s.version, "1")
            try await f.deployer.sync()
            try await f.expectServes(client, version: 2, offset: 2)
            let gone = try await f.infer(client, version: 1)
            XCTAssertEqual(gone.status, .notFound, "version 1 lost its alias and must be unloaded")
        }
    }

    /// A deployment that failed to load (its artifact was damaged on disk) is retried by a later
    /// poll once the retry interval passed, even though the registry did not change: repairing
    /// the file brings the model back without anyone touching the registry.
    func testFailedDeploymentIsRetriedWithoutARegistryChange() async throws {
        let f = try RegistryFixture(retryInterval: .milliseconds(50))
        let v1 = try await f.push(offset: 1)
        let file = f.registry.store.url(sha256: v1.sha256)
        let good = try Data(contentsOf: file)
        var bad = good
        bad[bad.count / 2] ^= 0x01
        try bad.write(to: file)
        // Another process (the CLI) promotes it; the server's sync fails to load it.
        let cli = try SQLiteRegistry(dataDirectory: f.dataDirectory)
        try cli.promote(f.name, version: 1, gates: [], alias: "production", change: Change(actor: "cli"))
        try await f.run { client in
            try await f.deployer.sync()
            let down = try await f.infer(client)
            XCTAssertNotEqual(down.status, .ok, RegistryFixture.text(down))
            try good.write(to: file)
            try await Task.sleep(for: .milliseconds(100))
            try await f.deployer.sync()  // same revision: only the retry can load it
            try await f.expectServes(client, version: 1, offset: 1)
        }
    }

    /// Another process points production at a version whose artifact is corrupt: the server
    /// keeps serving the version it had, and an operator can still promote a healthy version
    /// through the server.
    func testExternalPromotionOfCorruptVersionKeepsOldVersionAndCanBeRecovered() async throws {
        let f = try await Self.threeVersionsWithCorruptThird(flipping: .first)
        let cli = try SQLiteRegistry(dataDirectory: f.dataDirectory)
        try await f.run { client in
            try cli.promote(f.name, version: 3, gates: [], alias: "production", change: Change(actor: "cli"))
            try await f.deployer.sync()
            var s = try f.served(try await f.infer(client))
            XCTAssertEqual(s.version, "1", "the previous version keeps serving when the new one cannot load")
            XCTAssertEqual(s.y, RegistryFixture.expected(offset: 1))
            XCTAssertEqual(f.manager.route(of: f.name)?.primary, 1)

            // Recovery: promote version 2 (healthy) through the server.
            do {
                try await f.promote(2)
            } catch {
                XCTFail("promoting healthy version 2 while production (3) is unloadable failed: \(error)")
            }
            XCTAssertEqual(try f.production(), 2)
            try await f.expectServes(client, version: 2, offset: 2)
        }
    }

    /// "A promotion or rollback never drops a request": clients keep sending while production
    /// flips between two versions; every request is answered, by one version, consistently.
    func testPromotionsUnderLoadDropNoRequest() async throws {
        let f = try RegistryFixture()
        try await f.pushTwoVersionsPromotingTheFirst()
        try await f.run { client in
            let results = try await withThrowingTaskGroup(of: [(Int, String?, [Float])].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var out: [(Int, String?, [Float])] = []
                        for i in 0..<60 {
                            let x: [Float] = [Float(worker), Float(i), 0, 1]
                            let r = try await f.infer(client, x: x)
                            let body = (try? RegistryFixture.json(r)) ?? [:]
                            let y = ((body["outputs"] as? [[String: Any]])?.first?["data"] as? [NSNumber])?.map(\.floatValue) ?? []
                            out.append((Int(r.status.code), body["model_version"] as? String, zip(y, x).map { $0 - $1 }))
                        }
                        return out
                    }
                }
                group.addTask {
                    for v in [2, 1, 2, 1, 2] {
                        try await f.promote(v)
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    return []
                }
                var all: [(Int, String?, [Float])] = []
                for try await part in group { all += part }
                return all
            }
            XCTAssertEqual(results.count, 240)
            var versions: Set<String> = []
            for (status, version, delta) in results {
                XCTAssertEqual(status, 200)
                guard let version else { XCTFail("response without model_version"); continue }
                versions.insert(version)
                let offset: Float = version == "2" ? 2 : 1
                XCTAssertEqual(delta, [offset, offset, offset, offset], "version \(version) answered with another version's outputs")
            }
            XCTAssertTrue(versions.isSubset(of: ["1", "2"]), "\(versions)")
            XCTAssertEqual(try f.production(), 2)
            let after = try f.served(try await f.infer(client))
            XCTAssertEqual(after.version, "2")
        }
    }

    func testRoutedRequestsMetric() async throws {
        let f = try RegistryFixture()
        try await f.push(offset: 1)
        try await f.promote(1)
        try await f.run { client in
            for _ in 0..<3 { _ = try f.served(try await f.infer(client)) }
            for _ in 0..<2 { _ = try f.served(try await f.infer(client, version: 1)) }
            let r = try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
            XCTAssertEqual(r.status, .ok)
            let text = RegistryFixture.text(r)
            XCTAssertTrue(text.contains("berth_routed_requests_total"), text)
            let m = RegistryFixture.samples(text)
            XCTAssertEqual(m[#"berth_routed_requests_total{model="adder",version="1",route="production"}"#], 3)
            XCTAssertEqual(m[#"berth_routed_requests_total{model="adder",version="1",route="version"}"#], 2)
            XCTAssertNil(m[#"berth_routed_requests_total{model="adder",version="1",route="canary"}"#])
        }
    }

    // MARK: Admin API

    func testAdminListAndShowModel() async throws {
        let f = try RegistryFixture()
        let v1 = try await f.push(offset: 1, metrics: ["accuracy": 0.9])
        let v2 = try await f.push(offset: 2)
        try await f.promote(1)
        try await f.run { client in
            let list = try await client.executeRequest(uri: "/api/v1/models", method: .get, headers: [:], body: nil)
            XCTAssertEqual(list.status, .ok)
            let models = try RegistryFixture.json(list)["models"] as? [[String: Any]] ?? []
            XCTAssertEqual(models.count, 1)
            XCTAssertEqual(models.first?["name"] as? String, "adder")
            XCTAssertEqual(models.first?["latest_version"] as? Int, 2)
            XCTAssertEqual(models.first?["aliases"] as? [String: Int], ["production": 1])

            let show = try await client.executeRequest(uri: "/api/v1/models/adder", method: .get, headers: [:], body: nil)
            XCTAssertEqual(show.status, .ok, RegistryFixture.text(show))
            let detail = try RegistryFixture.json(show)
            XCTAssertEqual(detail["name"] as? String, "adder")
            XCTAssertEqual(detail["aliases"] as? [String: Int], ["production": 1])
            let versions = detail["versions"] as? [[String: Any]] ?? []
            XCTAssertEqual(versions.map { $0["version"] as? Int }, [1, 2])
            XCTAssertEqual(versions.map { $0["sha256"] as? String }, [v1.sha256, v2.sha256])
            XCTAssertEqual(versions.first?["aliases"] as? [String], ["production"])
            XCTAssertEqual((versions.first?["metrics"] as? [String: Any])?["accuracy"] as? Double, 0.9)
            let inputs = (versions.first?["signature"] as? [String: Any])?["inputs"] as? [[String: Any]]
            XCTAssertEqual(inputs?.first?["name"] as? String, "X")
            XCTAssertEqual(inputs?.first?["datatype"] as? String, "FP32")
            XCTAssertEqual(inputs?.first?["shape"] as? [Int], [-1, 4])
            let traffic = detail["traffic"] as? [String: Any]
            XCTAssertNotNil(traffic, "the model detail must carry its traffic split")
            XCTAssertEqual(traffic?["model"] as? String, "adder")
            XCTAssertTrue(traffic?["canary"] == nil || traffic?["canary"] is NSNull)

            let unknown = try await client.executeRequest(uri: "/api/v1/models/nope", method: .get, headers: [:], body: nil)
            XCTAssertEqual(unknown.status, .notFound)
            XCTAssertTrue(RegistryFixture.errorText(unknown).contains("nope"), RegistryFixture.text(unknown))
        }
    }

    func testAdminPromoteRefusedByGateChangesNothing() async throws {
        let f = try RegistryFixture()
        try await f.push(offset: 1, metrics: ["accuracy": 0.95])
        try await f.push(offset: 2, metrics: ["accuracy": 0.5])
        try await f.run { client in
            var headers = HTTPFields()
            headers[HTTPField.Name("x-berth-actor")!] = "ana"
            let ok = try await client.executeRequest(uri: "/api/v1/models/adder/promote", method: .post, headers: headers,
                                                     body: RegistryFixture.jsonBody(#"{"version": 1, "gates": ["accuracy>=0.9"], "reason": "first"}"#))
            XCTAssertEqual(ok.status, .ok, RegistryFixture.text(ok))
            let event = try RegistryFixture.json(ok)
            XCTAssertEqual(event["action"] as? String, "promote")
            XCTAssertEqual(event["to"] as? Int, 1)
            XCTAssertEqual(event["actor"] as? String, "ana")
            XCTAssertEqual(event["reason"] as? String, "first")
            let first = try f.served(try await f.infer(client))
            XCTAssertEqual(first.version, "1")
            let historyBefore = try f.registry.history(f.name, alias: nil)

            let refused = try await client.executeRequest(uri: "/api/v1/models/adder/promote", method: .post, headers: [:],
                                                          body: RegistryFixture.jsonBody(#"{"version": 2, "gates": ["accuracy>=0.9"]}"#))
            XCTAssertEqual(refused.status, .conflict, RegistryFixture.text(refused))
            XCTAssertTrue(RegistryFixture.errorText(refused).contains("accuracy"), RegistryFixture.text(refused))
            XCTAssertEqual(try f.production(), 1)
            XCTAssertEqual(try f.registry.history(f.name, alias: nil), historyBefore)
            try await f.expectServes(client, version: 1, offset: 1)
            // The refused version was not left loaded.
            let v2 = try await f.infer(client, version: 2)
            XCTAssertEqual(v2.status, .notFound)
        }
    }

    func testAdminPromoteAndRollbackSwitchBeforeReturning() async throws {
        let f = try RegistryFixture()
        try await f.pushTwoVersionsPromotingTheFirst()
        try await f.run { client in
            let p = try await client.executeRequest(uri: "/api/v1/models/adder/promote", method: .post, headers: [:],
                                                    body: RegistryFixture.jsonBody(#"{"version": 2}"#))
            XCTAssertEqual(p.status, .ok, RegistryFixture.text(p))
            XCTAssertEqual(try RegistryFixture.json(p)["from"] as? Int, 1)
            let promoted = try f.served(try await f.infer(client))
            XCTAssertEqual(promoted.version, "2")
            let rb = try await client.executeRequest(uri: "/api/v1/models/adder/rollback", method: .post, headers: [:], body: nil)
            XCTAssertEqual(rb.status, .ok, RegistryFixture.text(rb))
            let e = try RegistryFixture.json(rb)
            XCTAssertEqual(e["action"] as? String, "rollback")
            XCTAssertEqual(e["from"] as? Int, 2)
            XCTAssertEqual(e["to"] as? Int, 1)
            XCTAssertEqual(e["actor"] as? String, "api")
            try await f.expectServes(client, version: 1, offset: 1)
        }
    }

    func testAdminErrorStatuses() async throws {
        let f = try RegistryFixture()
        try await f.push(offset: 1)
        try await f.run { client in
            func call(_ method: HTTPRequest.Method, _ path: String, _ body: String?) async throws -> TestResponse {
                try await client.executeRequest(uri: path, method: method, headers: [:], body: body.map(RegistryFixture.jsonBody))
            }
            var r = try await call(.post, "/api/v1/models/nope/promote", #"{"version": 1}"#)
            XCTAssertEqual(r.status, .notFound, RegistryFixture.text(r))
            XCTAssertTrue(RegistryFixture.errorText(r).contains("nope"), RegistryFixture.text(r))
            r = try await call(.get, "/api/v1/models/nope/versions", nil)
            XCTAssertEqual(r.status, .notFound, RegistryFixture.text(r))
            r = try await call(.post, "/api/v1/models/adder/promote", #"{"version": 7}"#)
            XCTAssertEqual(r.status, .notFound, RegistryFixture.text(r))
            r = try await call(.post, "/api/v1/models/adder/promote", #"{"version": 1"#)
            XCTAssertEqual(r.status, .badRequest, RegistryFixture.text(r))
            XCTAssertFalse(RegistryFixture.errorText(r).isEmpty)
            r = try await call(.post, "/api/v1/models/adder/promote", "[1, 2]")
            XCTAssertEqual(r.status, .badRequest, RegistryFixture.text(r))
            r = try await call(.post, "/api/v1/models/adder/promote", #"{"version": "one"}"#)
            XCTAssertEqual(r.status, .badRequest, RegistryFixture.text(r))
            r = try await call(.put, "/api/v1/models/adder/traffic", "{not json")
            XCTAssertEqual(r.status, .badRequest, RegistryFixture.text(r))
            r = try await call(.put, "/api/v1/models/adder/traffic", #"{"canary": {"alias": "candidate", "percent": "ten"}}"#)
            XCTAssertEqual(r.status, .badRequest, RegistryFixture.text(r))
            // None of it changed anything.
            XCTAssertNil(try f.production())
            XCTAssertEqual(try f.registry.history(f.name, alias: nil).map(\.action), [.push])
        }
    }

    /// A malformed body is a 400 whose message says what is wrong and where.
    func testAdminMalformedBodiesNameTheProblem() async throws {
        let f = try RegistryFixture()
        try await f.push(offset: 1)
        try await f.run { client in
            func error(_ method: HTTPRequest.Method, _ path: String, _ body: String) async throws -> String {
                let r = try await client.executeRequest(uri: path, method: method, headers: [:], body: RegistryFixture.jsonBody(body))
                XCTAssertEqual(r.status, .badRequest, RegistryFixture.text(r))
                return RegistryFixture.errorText(r)
            }
            let promote = "/api/v1/models/adder/promote"
            var e = try await error(.post, promote, #"{"version": 1"#)
            XCTAssertTrue(e.hasPrefix("the body is not valid JSON") && e.contains("at byte 13"), e)
            e = try await error(.post, promote, #"{"gates": []}"#)
            XCTAssertEqual(e, "the body needs 'version'")
            e = try await error(.post, promote, #"{"version": "one"}"#)
            XCTAssertEqual(e, "the body 'version' must be an integer")
            e = try await error(.post, promote, #"{"version": 1, "gates": ["accuracy>=0.9", 3]}"#)
            XCTAssertEqual(e, "the body 'gates[1]' must be a string")
            e = try await error(.post, promote, "[1, 2]")
            XCTAssertEqual(e, "the body must be an object")
            e = try await error(.put, "/api/v1/models/adder/aliases/staging", "")
            XCTAssertEqual(e, "the body needs 'version'")
            e = try await error(.put, "/api/v1/models/adder/traffic", #"{"canary": {"alias": "candidate", "percent": true}}"#)
            XCTAssertEqual(e, "the body 'canary.percent' must be a number")
            e = try await error(.put, "/api/v1/models/adder/traffic", #"{"shadow": {"percent": 5}}"#)
            XCTAssertEqual(e, "the body needs 'shadow.alias'")
            XCTAssertEqual(try f.registry.history(f.name, alias: nil).map(\.action), [.push], "nothing changed")
        }
    }

    func testAdminPushOfGarbageIsRefused() async throws {
        let f = try RegistryFixture()
        try await f.push(offset: 1)
        try await f.run { client in
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            let r = try await client.executeRequest(uri: "/api/v1/models/adder/versions", method: .post, headers: headers,
                                                    body: ByteBuffer(bytes: Array("this is not an ONNX model \u{1}\u{2}\u{3}".utf8)))
            XCTAssertEqual(r.status, .badRequest, RegistryFixture.text(r))
            XCTAssertFalse(RegistryFixture.errorText(r).isEmpty)
            XCTAssertEqual(try f.registry.versions(of: "adder").map(\.version), [1])
            // A garbage push of a new model creates nothing either.
            let n = try await client.executeRequest(uri: "/api/v1/models/fresh/versions", method: .post, headers: headers,
                                                    body: ByteBuffer(bytes: [0xFF, 0x00, 0x13, 0x37]))
            XCTAssertEqual(n.status, .badRequest, RegistryFixture.text(n))
            XCTAssertEqual(try f.registry.models().map(\.name), ["adder"])
            // No temporary file and no extra artifact is left behind.
            let tmp = (try? FileManager.default.contentsOfDirectory(atPath: f.dataDirectory.appendingPathComponent("tmp").path)) ?? []
            XCTAssertEqual(tmp, [])
            XCTAssertEqual(f.registry.store.storedDigests().count, 1)
        }
    }

    func testAdminPushOfValidModelAnswers201WithItsSHA256() async throws {
        let f = try RegistryFixture()
        try await f.push(offset: 1)
        try await f.push(offset: 2)
        let bytes = TestModels.adder(offset: 3)
        let sha = RegistryFixture.sha256Hex(bytes)
        try await f.run { client in
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            headers[HTTPField.Name("x-berth-actor")!] = "ana"
            let r = try await client.executeRequest(uri: "/api/v1/models/adder/versions?tag=team=ml&param=C=1.0&parent=2&reason=retrain",
                                                    method: .post, headers: headers, body: ByteBuffer(bytes: bytes))
            XCTAssertEqual(r.status, .created, RegistryFixture.text(r))
            let v = try RegistryFixture.json(r)
            XCTAssertEqual(v["model"] as? String, "adder")
            XCTAssertEqual(v["version"] as? Int, 3)
            XCTAssertEqual(v["sha256"] as? String, sha)
            XCTAssertEqual(v["size"] as? Int, bytes.count)
            XCTAssertEqual(v["parent"] as? Int, 2)
            XCTAssertEqual(v["tags"] as? [String: String], ["team": "ml"])
            XCTAssertEqual(v["params"] as? [String: String], ["C": "1.0"])
            XCTAssertEqual(v["created_by"] as? String, "ana")
            XCTAssertEqual(v["aliases"] as? [String], [])
            // Recorded, stored under its digest, and byte-identical when pulled back.
            XCTAssertEqual(try f.registry.version("adder", .number(3)).sha256, sha)
            XCTAssertEqual(try Data(contentsOf: f.registry.store.url(sha256: sha)), bytes)
            let pulled = try await client.executeRequest(uri: "/api/v1/models/adder/versions/3/artifact", method: .get, headers: [:], body: nil)
            XCTAssertEqual(pulled.status, .ok)
            XCTAssertEqual(Data(buffer: pulled.body), bytes)
            XCTAssertEqual(pulled.headers[HTTPField.Name("x-berth-sha256")!], sha)
            // Pushed but not aliased: not served until promoted.
            let before = try await f.infer(client, version: 3)
            XCTAssertEqual(before.status, .notFound)
            let p = try await client.executeRequest(uri: "/api/v1/models/adder/promote", method: .post, headers: [:],
                                                    body: RegistryFixture.jsonBody(#"{"version": 3}"#))
            XCTAssertEqual(p.status, .ok, RegistryFixture.text(p))
            try await f.expectServes(client, version: 3, offset: 3)
        }
    }
}
