@testable import BerthServer
import Foundation
import XCTest

/// config.pbtxt (Triton's model_config.proto in text format) mapped to ``ModelConfig``: honoured
/// fields, the list of ignored ones, and errors that name the file, the line and the field.
final class ModelConfigPbtxtTests: XCTestCase {
    private let dir = FileManager.default.temporaryDirectory

    private func parse(_ text: String, model: String = "m") throws -> ModelConfig {
        try ModelConfig(pbtxt: text, model: model, directory: dir)
    }

    private func message(_ text: String, model: String = "m") -> String {
        do { _ = try parse(text, model: model); return "" } catch { return "\(error)" }
    }

    func testHonouredFieldsMapToTheConfig() throws {
        let c = try parse("""
        name: "m"
        platform: "onnxruntime_onnx"
        max_batch_size: 8
        version_policy: { latest: { num_versions: 2 } }
        input [ { name: "x" data_type: TYPE_FP32 dims: [ 2, 2 ] reshape: { shape: [ 4 ] } } ]
        output [ { name: "y" data_type: TYPE_INT64 dims: [ -1 ] } ]
        dynamic_batching { preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 300 priority_levels: 3 default_priority_level: 2 }
        instance_group [ { count: 2 kind: KIND_CPU }, { count: 1 } ]
        parameters { key: "intra_op_thread_count" value: { string_value: "3" } }
        model_warmup [ { name: "w" batch_size: 2 count: 5 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 2, 2 ] zero_data: true } } } ]
        """)
        XCTAssertEqual(c.maxBatchSize, 8)
        XCTAssertEqual(c.versionPolicy, .latest(2))
        XCTAssertEqual(c.inputs, [.init(name: "x", dtype: .float32, dims: [2, 2], reshape: [4])])
        XCTAssertEqual(c.outputs, [.init(name: "y", dtype: .int64, dims: [-1])])
        XCTAssertEqual(c.dynamicBatching, .init(maxQueueDelayMicroseconds: 300, preferredBatchSizes: [2, 4], priorityLevels: 3, defaultPriorityLevel: 2))
        XCTAssertEqual([nil, 0, 1, 3, 4].map { c.dynamicBatching?.level($0) }, [2, 2, 1, 3, 2])
        XCTAssertEqual(c.instanceCount, 3)
        XCTAssertEqual(c.threads, 3)
        XCTAssertEqual(c.warmup.first?.count, 5)
        XCTAssertEqual(c.warmup.first?.inputs["x"], .init(dtype: .float32, dims: [2, 2], source: .zero))
        XCTAssertEqual(c.ignoredFields, [])
    }

    func testFieldsBerthDoesNotHonourAreListedOnce() throws {
        let c = try parse("""
        max_batch_size: 4
        input [ { name: "a" format: FORMAT_NCHW dims: [ 3 ] }, { name: "b" format: FORMAT_NHWC dims: [ 3 ] } ]
        instance_group [ { kind: KIND_GPU gpus: [ 0, 1 ] } ]
        response_cache { enable: true }
        dynamic_batching { preserve_ordering: true }
        parameters { key: "custom" value: { string_value: "1" } }
        """)
        XCTAssertEqual(c.ignoredFields, ["input.format", "instance_group.gpus", "instance_group.kind",
                                         "dynamic_batching.preserve_ordering", "response_cache.enable", "parameters.custom"])
    }

    func testErrorsNameTheFileTheLineAndTheField() {
        XCTAssertTrue(message("max_batch_size: 4\noutput [ { name: \"y\" dimz: [ 1 ] } ]").contains("config.pbtxt: not a Triton model configuration: line 2"))
        XCTAssertTrue(message("max_batch_size: -1").contains("'max_batch_size' must be 0"))
        XCTAssertTrue(message("name: \"other\"").contains("'name' is 'other' but the model folder is 'm'"))
        XCTAssertTrue(message("platform: \"tensorflow_savedmodel\"").contains("'platform' 'tensorflow_savedmodel'"))
        XCTAssertTrue(message("platform: \"ensemble\"").contains("needs ensemble_scheduling"))
        XCTAssertTrue(message("dynamic_batching { priority_levels: 2 }").contains("'dynamic_batching.default_priority_level' must be 1...2"))
        let selfStep = """
        platform: "ensemble"
        input [ { name: "a" dims: [ 1 ] } ]
        output [ { name: "b" dims: [ 1 ] } ]
        ensemble_scheduling { step [ { model_name: "m" input_map { key: "x" value: "a" } output_map { key: "y" value: "b" } } ] }
        """
        XCTAssertTrue(message(selfStep).contains("'ensemble_scheduling.step[0].model_name' names the ensemble itself"))
        XCTAssertTrue(message("model_warmup [ { name: \"w\" inputs { key: \"x\" value: { data_type: TYPE_FP32 dims: [ 1 ] } } } ]")
            .contains("model_warmup[0].inputs[x]' sets none of zero_data"))
        XCTAssertTrue(message("output [ { name: \"y\" dims: [ 1 ] label_filename: \"missing.txt\" } ]")
            .contains("'output[0].label_filename' missing.txt is not a file"))
    }

    func testConfigJSONUnknownKeysAreReported() throws {
        let c = try ModelConfig(json: Data(#"{"max_batch_size": 2, "model_warmup": [], "dynamic_batching": {"priority_levels": 2, "preserve_ordering": true}}"#.utf8))
        XCTAssertEqual(c.maxBatchSize, 2)
        XCTAssertEqual(c.ignoredFields, ["model_warmup", "dynamic_batching.preserve_ordering"])
        XCTAssertEqual(c.dynamicBatching?.priorityLevels, 2)
    }
}
