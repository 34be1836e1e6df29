import Foundation
import XCTest
@testable import BerthGenerate

/// Malformed GGUF files fail with a clear error, never a crash: truncation anywhere, counts and
/// sizes beyond the file, unknown tensor types and architectures.
final class GGUFFileTests: XCTestCase {
    func write(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "berth-gguf-\(UUID().uuidString).gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func original() throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("qwen2_q8")))) }

    func testReadsMetadataAndTensors() throws {
        let f = try GGUFFile(path: Fixtures.path("qwen2_q8"))
        XCTAssertTrue(f.version == 3)
        XCTAssertTrue(f.metadata["general.architecture"]?.stringValue == "qwen2")
        XCTAssertTrue(f.tensors["token_embd.weight"]?.dims == [64, f.metadata["qwen2.vocab_size"]!.intValue!])
        XCTAssertTrue(f.tensors["output.weight"] == nil)
        XCTAssertTrue(f.dataOffset % f.alignment == 0)
    }

    func testTruncatedFilesFailCleanly() throws {
        let bytes = try original()
        // Every cut in the header region and a spread of cuts through the tensor data.
        let f = try GGUFFile(path: Fixtures.path("qwen2_q8"))
        var cuts = Array(stride(from: 0, to: f.dataOffset + 64, by: max(1, f.dataOffset / 400)))
        cuts += stride(from: f.dataOffset, to: bytes.count, by: bytes.count / 50)
        for cut in cuts {
            let path = try write(Array(bytes[..<cut]))
            defer { try? FileManager.default.removeItem(atPath: path) }
            expectThrows(GenerateError.self, "cut at \(cut)") { _ = try LlamaModel(file: try GGUFFile(path: path)) }
        }
    }

    func testHugeCountsAreRefusedBeforeAllocating() throws {
        var bytes = try original()
        for (offset, value) in [(8, UInt64(1) << 60), (16, UInt64(1) << 60), (8, UInt64.max)] {
            var b = bytes
            withUnsafeBytes(of: value.littleEndian) { for i in 0..<8 { b[offset + i] = $0[i] } }
            let path = try write(b)
            defer { try? FileManager.default.removeItem(atPath: path) }
            expectThrows(GenerateError.self) { _ = try GGUFFile(path: path) }
        }
        // A string length field (the first key's) claiming more than the file.
        withUnsafeBytes(of: (UInt64(1) << 40).littleEndian) { for i in 0..<8 { bytes[24 + i] = $0[i] } }
        let path = try write(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        expectThrows(GenerateError.self) { _ = try GGUFFile(path: path) }
    }

    func testUnknownTensorTypeIsNamed() throws {
        var bytes = try original()
        let name = Array("token_embd.weight".utf8)
        let at = try XCTUnwrap(find(name, in: bytes))
        // name, n_dims (u32), dims (2 × u64), then the type (u32).
        let typeOffset = at + name.count + 4 + 16
        bytes[typeOffset] = 99
        let path = try write(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        expectThrows(GenerateError.unsupportedTensorType(tensor: "token_embd.weight", type: 99)) { _ = try GGUFFile(path: path) }
    }

    func testUnknownArchitectureIsNamed() throws {
        var bytes = try original()
        let key = Array("general.architecture".utf8)
        let at = try XCTUnwrap(find(key, in: bytes))
        // key, type (u32), length (u64), "qwen2" → "gpt9x".
        let value = at + key.count + 4 + 8
        for (i, c) in "gpt9x".utf8.enumerated() { bytes[value + i] = c }
        let path = try write(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        expectThrows(GenerateError.unsupportedArchitecture("gpt9x")) { _ = try LlamaModel(file: try GGUFFile(path: path)) }
    }

    func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard needle.count <= hay.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}
