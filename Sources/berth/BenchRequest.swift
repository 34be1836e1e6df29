import BerthEngine
import BerthProtocol
import BerthTensor
import Foundation

/// One named input tensor of the benchmark request.
typealias BenchInput = V2InferenceRequest.Input

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
            guard let dtype = DType(v2Name: info.datatype.uppercased()) else {
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
            var n = 1
            for d in shape {
                let (m, o) = n.multipliedReportingOverflow(by: d)
                guard !o, m <= 1 << 28 else { throw CLIError("input \(info.name): shape \(shape) is too large for a benchmark request") }
                n = m
            }
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

    /// The inputs as JSON `data`, or with `binary` as raw bytes after the JSON, asking for binary
    /// outputs too (`binary_data_output`), as perf_analyzer's binary mode does.
    static func encode(_ inputs: [BenchInput], binary: Bool) -> Encoded {
        let (body, jsonLength) = V2InferenceRequest(inputs: inputs, binaryDataOutput: binary).encode(binary: binary)
        return Encoded(bytes: Array(body.readableBytesView), contentType: jsonLength == nil ? "application/json" : "application/octet-stream",
                       inferenceHeaderLength: jsonLength)
    }
}
