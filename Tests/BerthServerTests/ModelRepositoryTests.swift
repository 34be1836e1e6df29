@testable import BerthServer
import Foundation
import XCTest

/// config.json parsing, version policies and repository scanning.
final class ModelRepositoryTests: XCTestCase {
    func testConfigParsesOursAndTritonSpellings() throws {
        let c = try ModelConfig(json: Data("""
            {"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_us": 500, "preferred_batch_sizes": [4, 8], "max_queue_size": 3},
             "instance_count": 2, "threads": 1, "version_policy": {"latest": 2}}
            """.utf8))
        XCTAssertEqual(c.maxBatchSize, 8)
        XCTAssertEqual(c.dynamicBatching, .init(maxQueueDelayMicroseconds: 500, preferredBatchSizes: [4, 8], maxQueueSize: 3))
        XCTAssertEqual(c.instanceCount, 2)
        XCTAssertEqual(c.versionPolicy, .latest(2))
        let t = try ModelConfig(json: Data("""
            {"version_policy": {"specific": {"versions": [1, 3]}}, "instance_group": [{"count": 3, "kind": "KIND_CPU"}]}
            """.utf8))
        XCTAssertEqual(t.versionPolicy, .specific([1, 3]))
        XCTAssertEqual(t.instanceCount, 3)
        XCTAssertEqual(try ModelConfig(json: Data("{\"version_policy\": \"all\"}".utf8)).versionPolicy, .all)
        XCTAssertEqual(try ModelConfig(json: Data("{\"version_policy\": {\"latest\": {\"num_versions\": 3}}}".utf8)).versionPolicy, .latest(3))
    }

    func testBadConfigsNameTheField() {
        for (json, field) in [("{\"max_batch_size\": -1}", "max_batch_size"), ("{\"instance_count\": \"x\"}", "instance_count"),
                              ("{\"version_policy\": {\"newest\": 1}}", "version_policy"), ("[1]", "object"), ("{", "JSON")] {
            XCTAssertThrowsError(try ModelConfig(json: Data(json.utf8))) { e in
                XCTAssertTrue("\(e)".contains(field), "\(e) lacks \(field)")
            }
        }
    }

    func testVersionPolicySelects() {
        XCTAssertEqual(ModelConfig.VersionPolicy.latest(1).select([3, 1, 2]), [3])
        XCTAssertEqual(ModelConfig.VersionPolicy.latest(2).select([3, 1, 2]), [2, 3])
        XCTAssertEqual(ModelConfig.VersionPolicy.all.select([3, 1]), [1, 3])
        XCTAssertEqual(ModelConfig.VersionPolicy.specific([1, 5]).select([1, 2]), [1])
    }

    func testRepositoryListsModelsAndVersionsWithModelFiles() throws {
        let root = try ServerHarness.makeRepository(models: ["a": [1, 2], "b": [10]])
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("a/3"), withIntermediateDirectories: true)  // no model file
        try FileManager.default.createDirectory(at: root.appendingPathComponent("a/x"), withIntermediateDirectories: true)  // not a version
        let repo = ModelRepository(root: root)
        XCTAssertEqual(repo.modelNames(), ["a", "b"])
        XCTAssertEqual(repo.versions(of: "a"), [1, 2])
        XCTAssertEqual(repo.versions(of: "b"), [10])
        let fp = repo.fingerprint(model: "a", version: 1)
        XCTAssertEqual(fp, repo.fingerprint(model: "a", version: 1))
        try Data("changed".utf8).write(to: root.appendingPathComponent("a/1/model.onnx"))
        XCTAssertNotEqual(fp, repo.fingerprint(model: "a", version: 1))
    }
}
