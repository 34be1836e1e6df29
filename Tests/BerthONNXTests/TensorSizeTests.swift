@testable import BerthONNX
import BerthTensor
import Foundation
import XCTest

/// Sizes declared in a model file are untrusted: dims whose element or byte count overflows,
/// negative dims, and data shorter or longer than the dims need must be ONNXErrors that name
/// the tensor and the sizes, checked before anything is allocated. The overflowing cases trapped
/// on `count * byteSize` before the checks (a crash of `berth inspect`, `run` and `serve`).
final class TensorSizeTests: XCTestCase {
    static func tensor(_ name: String = "W", dtype: Int32 = 1, dims: [Int64], raw: Int? = nil) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = dtype
        t.dims = dims
        if let raw { t.rawData = Data(repeating: 0, count: raw) }
        return t
    }

    func decodeError(_ t: Onnx_TensorProto, baseDirectory: URL? = nil, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try Tensor(proto: t, baseDirectory: baseDirectory)
            XCTFail("decoded \(t.dims)", file: file, line: line)
            return ""
        } catch let e as ONNXError {
            return e.description
        } catch {
            XCTFail("not an ONNXError: \(error)", file: file, line: line)
            return ""
        }
    }

    func testByteCountOverflowIsAnError() {
        // 2^62 float elements: the element count fits in Int, the byte count does not.
        let text = decodeError(Self.tensor(dims: [1 << 31, 1 << 31], raw: 16))
        XCTAssertTrue(text.contains("tensor 'W'") && text.contains("[2147483648, 2147483648]") && text.contains("overflows"), text)
    }

    func testElementCountOverflowAndNegativeDims() {
        XCTAssertTrue(decodeError(Self.tensor(dims: [Int64.max, 2], raw: 8)).contains("element count overflows"))
        XCTAssertTrue(decodeError(Self.tensor(dtype: 3, dims: [1 << 62, 1 << 62])).contains("overflows"))
        XCTAssertTrue(decodeError(Self.tensor(dims: [-1, 3], raw: 12)).contains("negative dimension -1"))
    }

    func testRawDataMustMatchTheDims() {
        let short = decodeError(Self.tensor(dims: [3], raw: 8))
        XCTAssertTrue(short.contains("raw_data has 8 bytes, 12 expected"), short)
        XCTAssertTrue(decodeError(Self.tensor(dims: [3], raw: 13)).contains("raw_data has 13 bytes, 12 expected"))
        // Huge dims with a few bytes present: refused on the comparison, not by allocating.
        XCTAssertTrue(decodeError(Self.tensor(dtype: 2, dims: [1 << 40], raw: 4)).contains("raw_data has 4 bytes, 1099511627776 expected"))
    }

    func testTypedFieldsAndDataTypes() {
        var t = Self.tensor(dims: [1 << 31, 1 << 31])
        t.floatData = [1, 2]
        XCTAssertTrue(decodeError(t).contains("overflows"))
        t.dims = [3]
        XCTAssertTrue(decodeError(t).contains("holds 2 values, 3 expected"))
        XCTAssertTrue(decodeError(Self.tensor(dtype: 99, dims: [1], raw: 4)).contains("unsupported data type 99"))
        XCTAssertTrue(decodeError(Self.tensor(dtype: 16, dims: [1], raw: 2)).contains("unsupported data type 16"))
        XCTAssertTrue(decodeError(Self.tensor(dtype: 8, dims: [1], raw: 4)).contains("string tensors cannot use raw_data"))
        XCTAssertTrue(decodeError(Self.tensor(dtype: 8, dims: [1 << 40])).contains("holds 0 values"))
    }

    func testExternalDataSizeIsCheckedBeforeReading() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-size-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(repeating: 0, count: 12).write(to: dir.appendingPathComponent("w.bin"))
        func external(_ dims: [Int64], _ extra: [String: String] = [:]) -> Onnx_TensorProto {
            var t = Self.tensor(dims: dims)
            t.dataLocation = .external
            t.externalData = (["location": "w.bin"].merging(extra) { $1 }).sorted { $0.key < $1.key }.map { k, v in
                var e = Onnx_StringStringEntryProto()
                e.key = k
                e.value = v
                return e
            }
            return t
        }
        XCTAssertEqual(try Tensor(proto: external([3]), baseDirectory: dir).shape, [3])
        XCTAssertTrue(decodeError(external([1 << 31, 1 << 31]), baseDirectory: dir).contains("overflows"))
        let big = decodeError(external([1 << 20]), baseDirectory: dir)
        XCTAssertTrue(big.contains("w.bin has 12 bytes at offset 0") && big.contains("needs 4194304"), big)
        XCTAssertTrue(decodeError(external([2], ["offset": "8"]), baseDirectory: dir).contains("has 4 bytes at offset 8"))
        XCTAssertTrue(decodeError(external([3], ["offset": "x"]), baseDirectory: dir).contains("bad offset 'x'"))
    }

    /// The same checks through the model reader: initializers and tensor attributes (Constant).
    func testModelReaderRefusesHugeInitializersAndConstants() throws {
        var m = ModelReaderTests.tinyModel()
        m.graph.initializer = [Self.tensor(dims: [1 << 31, 1 << 31], raw: 16)]
        XCTAssertThrowsError(try ModelReader.read(m.serializedData())) { e in
            XCTAssertTrue("\(e)".contains("tensor 'W'") && "\(e)".contains("overflows"), "\(e)")
        }
        m = ModelReaderTests.tinyModel()
        var constant = Onnx_NodeProto()
        constant.opType = "Constant"
        constant.output = ["W"]
        var value = Onnx_AttributeProto()
        value.name = "value"
        value.type = .tensor
        value.t = Self.tensor("c", dims: [1 << 31, 1 << 31], raw: 16)
        constant.attribute = [value]
        m.graph.initializer = []
        m.graph.node.insert(constant, at: 0)
        XCTAssertThrowsError(try ModelReader.read(m.serializedData())) { e in
            XCTAssertTrue("\(e)".contains("tensor 'c'") && "\(e)".contains("overflows"), "\(e)")
        }
        var t = Self.tensor(dims: [1 << 31, 1 << 31], raw: 16)
        XCTAssertThrowsError(try ModelReader.readTensor(t.serializedData()))
        t.dims = [4]
        XCTAssertEqual(try ModelReader.readTensor(t.serializedData()).shape, [4])
    }
}
