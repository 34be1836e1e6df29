import BerthONNX
import BerthProtocol
import BerthTensor
import Foundation
import NIOCore

/// libFuzzer harnesses for the parsers that read untrusted bytes (docs/security.md):
/// - `onnx`: the ONNX model reader (protobuf, initializer sizes, attributes, subgraphs);
/// - `v2-json`: the V2 inference request decoder, JSON only;
/// - `binary-tensor`: the same decoder with Triton's binary tensor extension (the first two bytes
///   choose the JSON header length, the rest is the body).
/// A harness must never crash or trap; throwing a parse error is the expected outcome.
enum Harness: String, CaseIterable {
    case onnx
    case v2JSON = "v2-json"
    case binaryTensor = "binary-tensor"

    /// The model every request is decoded against: one input of each kind the decoder handles.
    static let interface = ModelInterface(name: "fuzz", inputs: [
        TensorSpec(name: "x", dtype: .float32, shape: [nil, 4]),
        TensorSpec(name: "ids", dtype: .int64, shape: [nil]),
        TensorSpec(name: "text", dtype: .string, shape: [nil]),
        TensorSpec(name: "mask", dtype: .bool, shape: [2, 2]),
    ], outputs: [TensorSpec(name: "y", dtype: .float32, shape: [nil, 3])])

    /// Parses `bytes`; returns the parse error, nil when the input was accepted.
    @discardableResult
    func run(_ bytes: UnsafeRawBufferPointer) -> String? {
        do {
            switch self {
            case .onnx:
                _ = try ModelReader.read(Data(bytes))
            case .v2JSON:
                _ = try V2InferenceRequest(body: ByteBuffer(bytes: bytes), headerLength: nil, model: Self.interface)
            case .binaryTensor:
                guard bytes.count >= 2 else { return "shorter than the 2-byte header length" }
                let body = ByteBuffer(bytes: bytes[2...])
                let header = Int(bytes[0]) << 8 | Int(bytes[1])
                _ = try V2InferenceRequest(body: body, headerLength: header, model: Self.interface)
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The harness `BERTH_FUZZ` names (default `onnx`).
    static let selected: Harness = {
        let name = ProcessInfo.processInfo.environment["BERTH_FUZZ"] ?? "onnx"
        guard let h = Harness(rawValue: name) else {
            FileHandle.standardError.write(Data("BERTH_FUZZ must be one of \(allCases.map(\.rawValue))\n".utf8))
            exit(2)
        }
        return h
    }()
}

#if FUZZING
import CBerthFuzz

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    Harness.selected.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

/// The executable's entry point as SwiftPM links it (`main` is redirected to `<module>_main`):
/// hands over to libFuzzer's driver.
@_cdecl("berth_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in
        Harness.selected.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : Int(size)))
        return 0
    }
}
#else
/// Without the fuzzer: `berth-fuzz HARNESS FILE_OR_FOLDER…` replays inputs (the seed corpus, a
/// crash file) through a harness once each, so CI and regression tests need no sanitizer build.
@main
struct Replay {
    static func main() throws {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let harness = Harness(rawValue: name), args.count >= 2 else {
            FileHandle.standardError.write(Data("usage: berth-fuzz \(Harness.allCases.map(\.rawValue).joined(separator: "|")) FILE_OR_FOLDER...\n".utf8))
            exit(2)
        }
        var count = 0
        for path in args.dropFirst() {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            let files = isDir.boolValue
                ? (try FileManager.default.contentsOfDirectory(atPath: path)).sorted().map { "\(path)/\($0)" } : [path]
            for f in files {
                let data = try Data(contentsOf: URL(fileURLWithPath: f))
                let outcome = data.withUnsafeBytes { harness.run($0) }
                print("\(f): \(outcome.map { "refused: \($0)" } ?? "accepted")")
                count += 1
            }
        }
        print("\(harness.rawValue): \(count) inputs replayed without a crash")
    }
}
#endif
