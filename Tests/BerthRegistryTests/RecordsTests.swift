@testable import BerthRegistry
import Foundation
import XCTest

/// References, the JSON shapes of the records (docs/registry.md) and metrics files.
final class RecordsTests: XCTestCase {
    func testVersionRefParsesNumbersAndAliases() {
        XCTAssertEqual(VersionRef("3"), .number(3))
        XCTAssertEqual(VersionRef("production"), .alias("production"))
        XCTAssertEqual(VersionRef.parse("digits@2").model, "digits")
        XCTAssertEqual(VersionRef.parse("digits@2").ref, .number(2))
        XCTAssertEqual(VersionRef.parse("digits@staging").ref, .alias("staging"))
        XCTAssertEqual(VersionRef.parse("digits", default: .alias("production")).ref, .alias("production"))
        XCTAssertNil(VersionRef.parse("digits").ref)
        XCTAssertEqual(VersionRef.number(4).description, "4")
    }

    private func jsonObject<T: Encodable>(_ value: T) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any])
    }

    func testVersionJSONUsesTheDocumentedKeys() throws {
        let v = VersionRecord(model: "digits", version: 2, sha256: "ab", size: 1234,
                              signature: ModelSignature(inputs: [TensorSpec(name: "x", datatype: "FP32", shape: [-1, 64])], outputs: []),
                              metrics: ["accuracy": 0.97], parent: 1, trainingDataDigest: "cd", params: ["C": "1.0"],
                              tags: ["team": "ml"], aliases: ["production"], createdAt: Date(), createdBy: "ana")
        let o = try jsonObject(v)
        XCTAssertEqual(Set(o.keys), ["model", "version", "sha256", "size", "signature", "metrics", "parent", "training_data_digest",
                                     "params", "tags", "serving_config", "aliases", "created_at", "created_by", "artifact_signature"])
        XCTAssertEqual(o["training_data_digest"] as? String, "cd")
        let signature = try XCTUnwrap(o["signature"] as? [String: Any])
        let input = try XCTUnwrap((signature["inputs"] as? [[String: Any]])?.first)
        XCTAssertEqual(input["datatype"] as? String, "FP32")
        XCTAssertEqual(input["shape"] as? [Int], [-1, 64])
    }

    func testModelJSONUsesTheDocumentedKeys() throws {
        let m = ModelRecord(name: "digits", description: "", tags: [:], latestVersion: 2, aliases: ["production": 2],
                            createdAt: Date(), createdBy: "ana")
        let o = try jsonObject(m)
        XCTAssertEqual(Set(o.keys), ["name", "description", "tags", "latest_version", "aliases", "created_at", "created_by", "tenant"])
        XCTAssertEqual(o["latest_version"] as? Int, 2)
    }

    func testMetricsFileReadsEvalReportsAndPlainObjects() throws {
        XCTAssertEqual(try MetricsFile.parse(Data(#"{"metrics": {"accuracy": 0.97, "auc": null}, "rows": 10}"#.utf8)), ["accuracy": 0.97])
        XCTAssertEqual(try MetricsFile.parse(Data(#"{"accuracy": 0.5, "f1": 1}"#.utf8)), ["accuracy": 0.5, "f1": 1])
        for bad in [#"[1, 2]"#, #"{"accuracy": "high"}"#, "not json"] {
            XCTAssertThrowsError(try MetricsFile.parse(Data(bad.utf8))) { e in
                guard case .badInput? = e as? RegistryError else { return XCTFail("\(bad): \(e)") }
            }
        }
    }
}
