import BerthProtocol
@testable import BerthServer
import BerthTensor
import Foundation
import XCTest

/// The gRPC adapter's mapping: ModelInferRequest → checked V2InferenceRequest (typed and raw
/// contents, the REST decoder's checks), the response's raw outputs, ServerError → gRPC status.
final class GRPCAdapterTests: XCTestCase {
    private let model = ModelInterface(name: "m", inputs: [TensorSpec(name: "x", dtype: .float32, shape: [nil, 2]),
                                                           TensorSpec(name: "s", dtype: .string, shape: [nil])],
                                       outputs: [TensorSpec(name: "y", dtype: .float32, shape: nil)])

    private func input(_ name: String, _ datatype: String, _ shape: [Int64]) -> Inference_ModelInferRequest.InferInputTensor {
        .with { $0.name = name; $0.datatype = datatype; $0.shape = shape }
    }

    func testTypedContents() throws {
        var req = Inference_ModelInferRequest()
        var x = input("x", "FP32", [2, 2])
        x.contents.fp32Contents = [1, 2, 3, 4]
        var s = input("s", "BYTES", [2])
        s.contents.bytesContents = [Data("a".utf8), Data("bc".utf8)]
        req.inputs = [x, s]
        req.outputs = [.with { $0.name = "y" }]
        let v2 = try req.v2Request(for: model)
        XCTAssertEqual(v2.rows, 2)
        XCTAssertEqual(v2.outputs, [.init(name: "y")])
        guard case let .float32(f) = v2.feeds["x"]!.storage, case let .string(str) = v2.feeds["s"]!.storage else { return XCTFail() }
        XCTAssertEqual(f, [1, 2, 3, 4])
        XCTAssertEqual(str, ["a", "bc"])
    }

    func testRawContentsAreLengthChecked() throws {
        var req = Inference_ModelInferRequest()
        req.inputs = [input("x", "FP32", [1, 2]), input("s", "BYTES", [1])]
        var bytes = Data([1, 0, 0, 0])
        bytes.append(contentsOf: Array("z".utf8))
        req.rawInputContents = [[Float(5), 6].withUnsafeBytes { Data($0) }, bytes]
        let v2 = try req.v2Request(for: model)
        guard case let .string(str) = v2.feeds["s"]!.storage else { return XCTFail() }
        XCTAssertEqual(str, ["z"])
        // A shape that claims more than the bytes sent is refused before allocating.
        req.inputs[0].shape = [1_000_000, 2]
        XCTAssertThrowsError(try req.v2Request(for: model)) { XCTAssertTrue("\($0)".contains("binary_data_size")) }
    }

    func testShapeAndNameChecksAreTheRESTOnes() {
        var req = Inference_ModelInferRequest()
        var x = input("x", "FP32", [1, 3])
        x.contents.fp32Contents = [1, 2, 3]
        req.inputs = [x]
        XCTAssertThrowsError(try req.v2Request(for: model)) { XCTAssertTrue("\($0)".contains("does not match the model's")) }
        req.inputs[0].name = "q"
        XCTAssertThrowsError(try req.v2Request(for: model)) { XCTAssertTrue("\($0)".contains("unknown input 'q'")) }
    }

    func testResponseIsRawAndErrorsMapToStatuses() {
        let r = V2InferenceResponse(modelName: "m", modelVersion: "1", id: "i",
                                    outputs: [.init(name: "y", tensor: Tensor(unchecked: [2], storage: .float32([1, 2])), binary: false)])
        let g = r.grpcResponse
        XCTAssertEqual(g.outputs.map(\.shape), [[2]])
        XCTAssertEqual(g.rawOutputContents, [[Float(1), 2].withUnsafeBytes { Data($0) }])
        XCTAssertEqual(ServerError.badRequest("x").rpcCode, .invalidArgument)
        XCTAssertEqual(ServerError.modelNotFound("m").rpcCode, .notFound)
        XCTAssertEqual(ServerError.queueFull(model: "m", version: "1", capacity: 1).rpcCode, .unavailable)
        XCTAssertEqual(ServerError.bodyTooLarge(limit: 1).rpcCode, .resourceExhausted)
        XCTAssertEqual(ServerError.inferenceFailed("x").rpcCode, .internalError)
    }
}
