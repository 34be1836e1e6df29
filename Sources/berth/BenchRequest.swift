import BerthEngine
import BerthTensor
import Foundation

/// One tensor of a V2 model-metadata answer (`GET /v2/models/NAME`).
struct V2TensorMetadata: Decodable {
    var name: String
    var datatype: String
    var shape: [Int]?
}

/// A V2 model-metadata answer; only the fields `berth bench` needs.
struct V2ModelMetadata: Decodable {
    var name: String
    var versions: [String]?
    var platform: String?
    var inputs: [V2TensorMetadata]?
    var outputs: [V2TensorMetadata]?
}

/// A V2 error answer, `{"error": "..."}`.
struct V2ErrorBody: Decodable {
    var error: String
}

/// V2 datatype names (`FP32`, `INT64` ...) for BerthTensor dtypes.
enum V2Datatype {
    static func name(_ dtype: DType) -> String {
        switch dtype {
        case .bool: return "BOOL"
        case .uint8: return "UINT8"
        case .uint16: return "UINT16"
        case .uint32: return "UINT32"
        case .uint64: return "UINT64"
        case .int8: return "INT8"
        case .int16: return "INT16"
        case .int32: return "INT32"
        case .int64: return "INT64"
        case .float16: return "FP16"
        case .float32: return "FP32"
        case .float64: return "FP64"
        case .string: return "BYTES"
        }
    }

    static func dtype(_ name: String) -> DType? {
        DType.allCases.first { Self.name($0) == name.uppercased() }
    }
}

/// One named input tensor of the benchmark request.
struct BenchInput {
    var name: String
    var tensor: Tensor
}

/// Builds the inputs of a benchmark request: from `.npy` files where given, otherwise random
/// values shaped by the model's metadata (the first -1 dimension is the batch, later ones 1).
enum BenchInputs {
    static func make(metadata: V2ModelMetadata, files: [String: String], shapes: [String: [Int]], batch: Int,
                     intRange: Int, seed: UInt64 = 42) throws -> [BenchInput] {
        var rng = SplitMix64(seed: seed)
        let declared = metadata.inputs ?? []
        var result: [BenchInput] = []
        for (name, _) in files where !declared.contains(where: { $0.name == name }) && !declared.isEmpty {
            throw CLIError("--input \(name): the model has no input named '\(name)' (it has \(declared.map(\.name).joined(separator: ", ")))")
        }
        if declared.isEmpty {
            // Metadata without inputs (some servers leave them out): every input must come from a file.
            guard !files.isEmpty else {
                throw CLIError("the model's metadata lists no inputs; give them with --input NAME=FILE.npy")
            }
            for name in files.keys.sorted() {
                result.append(BenchInput(name: name, tensor: try readNPY(files[name]!, input: name)))
            }
            return result
        }
        for info in declared {
            if let path = files[info.name] {
                result.append(BenchInput(name: info.name, tensor: try readNPY(path, input: info.name)))
                continue
            }
            guard let dtype = V2Datatype.dtype(info.datatype) else {
                throw CLIError("input \(info.name): unknown datatype \(info.datatype)")
            }
            var shape: [Int]
            if let given = shapes[info.name] {
                shape = given
            } else {
                var batchUsed = false
                shape = (info.shape ?? [-1]).map { d in
                    if d >= 0 { return d }
                    if !batchUsed { batchUsed = true; return batch }
                    return 1
                }
            }
            let n = shape.reduce(1, *)
            let storage: TensorStorage
            switch dtype {
            case .float32: storage = .float32((0..<n).map { _ in Float(rng.nextUnit()) })
            case .float64: storage = .float64((0..<n).map { _ in rng.nextUnit() })
            case .float16: storage = .float16((0..<n).map { _ in Float16(rng.nextUnit()) })
            case .bool: storage = .bool((0..<n).map { _ in rng.next() & 1 == 1 })
            case .string: storage = .string((0..<n).map { _ in "s\(rng.next() % 4)" })
            case .int8: storage = .int8((0..<n).map { _ in Int8(truncatingIfNeeded: rng.next(below: intRange)) })
            case .uint8: storage = .uint8((0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next(below: intRange)) })
            case .int16: storage = .int16((0..<n).map { _ in Int16(truncatingIfNeeded: rng.next(below: intRange)) })
            case .uint16: storage = .uint16((0..<n).map { _ in UInt16(truncatingIfNeeded: rng.next(below: intRange)) })
            case .int32: storage = .int32((0..<n).map { _ in Int32(truncatingIfNeeded: rng.next(below: intRange)) })
            case .uint32: storage = .uint32((0..<n).map { _ in UInt32(truncatingIfNeeded: rng.next(below: intRange)) })
            case .int64: storage = .int64((0..<n).map { _ in Int64(rng.next(below: intRange)) })
            case .uint64: storage = .uint64((0..<n).map { _ in UInt64(rng.next(below: intRange)) })
            }
            result.append(BenchInput(name: info.name, tensor: try Tensor(shape: shape, storage: storage)))
        }
        return result
    }

    private static func readNPY(_ path: String, input: String) throws -> Tensor {
        do {
            return try NPY.read(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CLIError("--input \(input)=\(path): \(error)")
        }
    }

    /// The rows one request carries: the first dimension of the first input (1 for scalars).
    static func rows(_ inputs: [BenchInput]) -> Int {
        inputs.first.flatMap { $0.tensor.shape.first } ?? 1
    }
}

/// Encodes V2 inference request bodies, once per benchmark: every request sends the same bytes.
enum BenchRequestBody {
    /// A request body and the headers it needs.
    struct Encoded {
        var bytes: [UInt8]
        var contentType: String
        /// For Triton's binary tensor extension: the length of the JSON header before the tensor bytes.
        var inferenceHeaderLength: Int?
    }

    /// `{"inputs":[{"name":..,"shape":[..],"datatype":..,"data":[..]}]}`; with `binary`, the data
    /// follow the JSON as raw little-endian bytes (`parameters.binary_data_size`) and the outputs
    /// are asked for in binary too (`parameters.binary_data_output`).
    static func encode(_ inputs: [BenchInput], binary: Bool) throws -> Encoded {
        var json: [UInt8] = []
        var tail: [UInt8] = []
        json.append(contentsOf: #"{"inputs":["#.utf8)
        for (i, input) in inputs.enumerated() {
            if i > 0 { json.append(UInt8(ascii: ",")) }
            let t = input.tensor
            json.append(contentsOf: #"{"name":"#.utf8)
            appendJSONString(input.name, to: &json)
            json.append(contentsOf: #","shape":["#.utf8)
            json.append(contentsOf: t.shape.map(String.init).joined(separator: ",").utf8)
            json.append(contentsOf: #"],"datatype":""#.utf8)
            json.append(contentsOf: V2Datatype.name(t.dtype).utf8)
            json.append(UInt8(ascii: "\""))
            if binary {
                let raw = try rawBytes(t)
                json.append(contentsOf: #","parameters":{"binary_data_size":\#(raw.count)}}"#.utf8)
                tail.append(contentsOf: raw)
            } else {
                json.append(contentsOf: #","data":["#.utf8)
                appendJSONData(t.storage, to: &json)
                json.append(contentsOf: "]}".utf8)
            }
        }
        json.append(UInt8(ascii: "]"))
        // perf_analyzer's binary mode asks for binary outputs too (Triton's `binary_data_output`).
        if binary { json.append(contentsOf: #","parameters":{"binary_data_output":true}"#.utf8) }
        json.append(UInt8(ascii: "}"))
        guard binary else { return Encoded(bytes: json, contentType: "application/json", inferenceHeaderLength: nil) }
        return Encoded(bytes: json + tail, contentType: "application/octet-stream", inferenceHeaderLength: json.count)
    }

    /// Raw tensor bytes as Triton's binary extension sends them (BYTES: 4-byte length + bytes each).
    static func rawBytes(_ t: Tensor) throws -> [UInt8] {
        if case let .string(values) = t.storage {
            var out: [UInt8] = []
            for s in values {
                let u = Array(s.utf8)
                withUnsafeBytes(of: UInt32(u.count).littleEndian) { out.append(contentsOf: $0) }
                out.append(contentsOf: u)
            }
            return out
        }
        return Array(t.storage.littleEndianData())
    }

    private static func appendJSONData(_ storage: TensorStorage, to out: inout [UInt8]) {
        func list<T>(_ values: [T], _ text: (T) -> String) {
            for (i, v) in values.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: text(v).utf8)
            }
        }
        func float(_ d: Double) -> String { d.isFinite ? "\(d)" : "0" }
        switch storage {
        case let .float32(v): list(v) { $0.isFinite ? "\($0)" : "0" }
        case let .float64(v): list(v, float)
        case let .float16(v): list(v) { float(Double($0)) }
        case let .int8(v): list(v) { "\($0)" }
        case let .uint8(v): list(v) { "\($0)" }
        case let .int16(v): list(v) { "\($0)" }
        case let .uint16(v): list(v) { "\($0)" }
        case let .int32(v): list(v) { "\($0)" }
        case let .uint32(v): list(v) { "\($0)" }
        case let .int64(v): list(v) { "\($0)" }
        case let .uint64(v): list(v) { "\($0)" }
        case let .bool(v): list(v) { $0 ? "true" : "false" }
        case let .string(v):
            for (i, s) in v.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendJSONString(s, to: &out)
            }
        }
    }

    static func appendJSONString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0..<0x20: out.append(contentsOf: String(format: "\\u%04x", b).utf8)
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
