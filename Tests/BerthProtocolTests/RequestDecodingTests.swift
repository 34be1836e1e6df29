import BerthProtocol
import BerthTensor
import NIOCore
import XCTest

/// The request decoder on hostile sizes: each case here crashed or aborted the server before the
/// decoder compared declared sizes with the bytes present (a trap on overflow, a 32 GiB reserve).
final class RequestDecodingTests: XCTestCase {
    let model = ModelInterface(name: "m", inputs: [TensorSpec(name: "a", dtype: .float32, shape: [nil]),
                                                   TensorSpec(name: "b", dtype: .float32, shape: [nil]),
                                                   TensorSpec(name: "s", dtype: .string, shape: [nil])],
                               outputs: [TensorSpec(name: "y", dtype: .float32, shape: [nil])])

    func decode(_ json: String, binary: [UInt8] = [], model: ModelInterface? = nil) throws -> V2InferenceRequest {
        var body = ByteBuffer(string: json)
        body.writeBytes(binary)
        return try V2InferenceRequest(body: body, headerLength: binary.isEmpty ? nil : json.utf8.count, model: model ?? self.model)
    }

    func message(_ json: String, binary: [UInt8] = [], model: ModelInterface? = nil) -> String {
        do { _ = try decode(json, binary: binary, model: model); return "" } catch let e as V2RequestError { return e.message } catch {
            return "unexpected \(error)"
        }
    }

    /// `binaryOffset + size` trapped when the second input declared a size near Int64.max.
    func testBinarySizeNearInt64MaxIsRefused() {
        for size in [Int64.max, Int64.max - 3, Int64.max / 2 + 1] {
            let json = #"{"inputs":[{"name":"a","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}},"#
                + #"{"name":"b","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":\#(size)}},"#
                + #"{"name":"s","datatype":"BYTES","shape":[1],"data":["x"]}]}"#
            XCTAssertTrue(message(json, binary: [0, 0, 128, 63, 1, 2, 3, 4]).contains("exceeds"), "size \(size)")
        }
    }

    /// A BYTES input of shape [2^31] with one element reserved 32 GiB before the data were counted.
    func testHugeBytesShapeWithOneElementIsRefusedWithoutReserving() {
        let one = #"{"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},{"name":"b","datatype":"FP32","shape":[1],"data":[1]},"#
        let json = one + #"{"name":"s","datatype":"BYTES","shape":[2147483648],"data":["x"]}]}"#
        XCTAssertTrue(message(json).contains("needs 2147483648 elements"), message(json))
        // The binary form: an 83-byte request in the report.
        let bin = one + #"{"name":"s","datatype":"BYTES","shape":[2147483648],"parameters":{"binary_data_size":5}}]}"#
        XCTAssertTrue(message(bin, binary: [1, 0, 0, 0, 120]).contains("hold at most 1"), message(bin, binary: [1, 0, 0, 0, 120]))
    }

    /// Numeric shapes must not reserve for their declared count either: [2^31] floats with one value.
    func testHugeNumericShapeWithFewValuesIsRefused() {
        let json = #"{"inputs":[{"name":"a","datatype":"FP32","shape":[2147483648],"data":[1]},"#
            + #"{"name":"b","datatype":"FP32","shape":[1],"data":[1]},{"name":"s","datatype":"BYTES","shape":[1],"data":["x"]}]}"#
        XCTAssertTrue(message(json).contains("needs 2147483648 elements, 'data' holds 1"), message(json))
        let over = json.replacingOccurrences(of: "2147483648", with: "4611686018427387904")
        XCTAssertTrue(message(over).contains("too large"), message(over))
    }

    func testMissingAndUnknownInputsAreNamed() {
        XCTAssertTrue(message(#"{"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]}]}"#).contains("missing input 'b'"))
        XCTAssertTrue(message(#"{"inputs":[{"name":"zz","datatype":"FP32","shape":[1],"data":[1]}]}"#).contains("unknown input 'zz'"))
    }

    /// What `berth bench` sends, the server reads back: the same codec both ways.
    func testEncodedRequestsDecodeBack() throws {
        let inputs: [V2InferenceRequest.Input] = [
            .init(name: "a", tensor: try Tensor(shape: [2], values: [Float(1.5), -2])),
            .init(name: "b", tensor: try Tensor(shape: [2], values: [Float(0.25), 3])),
            .init(name: "s", tensor: Tensor(unchecked: [2], storage: .string(["héllo", "a\"b\n"]))),
        ]
        for binary in [false, true] {
            let request = V2InferenceRequest(id: "r1", inputs: inputs, outputs: [.init(name: "y", binary: true)], binaryDataOutput: binary)
            let (body, jsonLength) = request.encode(binary: binary)
            XCTAssertEqual(jsonLength != nil, binary)
            let back = try V2InferenceRequest(body: body, headerLength: jsonLength, model: model)
            XCTAssertEqual(back.id, "r1")
            XCTAssertEqual(back.rows, 2)
            XCTAssertEqual(back.outputs, [.init(name: "y", binary: true)])
            XCTAssertEqual(back.binaryDataOutput, binary)
            XCTAssertEqual(try back.feeds["a"]!.values(Float.self), [1.5, -2])
            XCTAssertEqual(try back.feeds["s"]!.values(String.self), ["héllo", "a\"b\n"])
        }
    }

    /// Rows are dim 0 of the model's first input, whatever order the request lists inputs in.
    func testRowsFollowModelInputOrder() throws {
        let json = #"{"inputs":[{"name":"s","datatype":"BYTES","shape":[1],"data":["x"]},"#
            + #"{"name":"b","datatype":"FP32","shape":[3],"data":[1,2,3]},{"name":"a","datatype":"FP32","shape":[2],"data":[1,2]}]}"#
        XCTAssertEqual(try decode(json).rows, 2)
    }
}
