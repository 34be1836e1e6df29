import BerthTensor
import Foundation

extension Tensor {
    /// Decodes an ONNX `TensorProto`. `baseDirectory` resolves external data; nil forbids it.
    ///
    /// Every size in a model file is untrusted: the element and byte counts are computed with
    /// overflow checks and compared with the bytes actually present (raw_data, the typed value
    /// fields, the external file) before anything is allocated, so a bad file is an
    /// ``ONNXError/badTensor(name:reason:)`` naming the tensor, never a trap.
    public init(proto p: Onnx_TensorProto, baseDirectory: URL?) throws {
        let name = p.name
        let shape = p.dims.map { Int($0) }
        guard let dtype = DType(rawValue: Int(p.dataType)) else {
            throw ONNXError.badTensor(name: name, reason: "dims \(shape): unsupported data type \(p.dataType)")
        }
        func fail(_ why: String) -> ONNXError { .badTensor(name: name, reason: "\(dtype)\(shape): \(why)") }
        let count: Int, bytes: Int
        do {
            count = try Shape.elementCount(shape)
            bytes = try Shape.byteCount(shape, dtype: dtype)
        } catch let TensorError.invalidShape(_, reason) {
            throw fail(reason)
        }

        if p.dataLocation == .external {
            guard dtype != .string else { throw fail("string tensors cannot be external") }
            let raw = try Self.readExternal(p, expectedBytes: bytes, describe: "\(dtype)\(shape)", baseDirectory: baseDirectory)
            try self.init(shape: shape, storage: TensorStorage.fromLittleEndian(raw, dtype: dtype, count: count))
            return
        }
        let typed = Self.typedFieldCount(p, dtype)
        if dtype == .string {
            guard p.rawData.isEmpty else { throw fail("string tensors cannot use raw_data") }
        } else if !p.rawData.isEmpty || (count > 0 && typed == 0) {
            guard p.rawData.count == bytes else { throw fail("raw_data has \(p.rawData.count) bytes, \(bytes) expected") }
            try self.init(shape: shape, storage: TensorStorage.fromLittleEndian(p.rawData, dtype: dtype, count: count))
            return
        }
        guard typed == count else { throw fail("holds \(typed) values, \(count) expected") }
        let storage: TensorStorage
        switch dtype {
        case .float32: storage = .float32(p.floatData)
        case .float64: storage = .float64(p.doubleData)
        case .int64: storage = .int64(p.int64Data)
        case .int32: storage = .int32(p.int32Data)
        case .uint64: storage = .uint64(p.uint64Data)
        case .uint32: storage = .uint32(p.uint64Data.map { UInt32(truncatingIfNeeded: $0) })
        case .int8: storage = .int8(p.int32Data.map { Int8(truncatingIfNeeded: $0) })
        case .uint8: storage = .uint8(p.int32Data.map { UInt8(truncatingIfNeeded: $0) })
        case .int16: storage = .int16(p.int32Data.map { Int16(truncatingIfNeeded: $0) })
        case .uint16: storage = .uint16(p.int32Data.map { UInt16(truncatingIfNeeded: $0) })
        case .bool: storage = .bool(p.int32Data.map { $0 != 0 })
        // float16 values travel as their 16-bit patterns in int32_data.
        case .float16: storage = .float16(p.int32Data.map { Float16(bitPattern: UInt16(truncatingIfNeeded: $0)) })
        case .string: storage = .string(p.stringData.map { String(decoding: $0, as: UTF8.self) })
        }
        try self.init(shape: shape, storage: storage)
    }

    private static func typedFieldCount(_ p: Onnx_TensorProto, _ dtype: DType) -> Int {
        switch dtype {
        case .float32: return p.floatData.count
        case .float64: return p.doubleData.count
        case .int64: return p.int64Data.count
        case .uint32, .uint64: return p.uint64Data.count
        case .string: return p.stringData.count
        default: return p.int32Data.count
        }
    }

    /// Reads exactly `expectedBytes` of external data, after checking the file holds them.
    private static func readExternal(_ p: Onnx_TensorProto, expectedBytes: Int, describe: String, baseDirectory: URL?) throws -> Data {
        var entries: [String: String] = [:]
        for e in p.externalData { entries[e.key] = e.value }
        func fail(_ why: String) -> ONNXError { .externalData(tensor: p.name, reason: why) }
        guard let base = baseDirectory else { throw fail("model was loaded from bytes, so external files cannot be resolved") }
        guard let location = entries["location"], !location.isEmpty else { throw fail("no location") }
        let handle = try ExternalDataFile.open(location, in: base, fail: fail)
        defer { try? handle.close() }
        let offset: UInt64
        if let o = entries["offset"] {
            guard let v = UInt64(o) else { throw fail("bad offset '\(o)'") }
            offset = v
        } else { offset = 0 }
        let fileSize = (try? handle.seekToEnd()) ?? 0
        guard offset <= fileSize else { throw fail("offset \(offset) is past the end of \(location) (\(fileSize) bytes)") }
        let available = fileSize - offset
        let length: UInt64
        if let l = entries["length"] {
            guard let v = UInt64(l) else { throw fail("bad length '\(l)'") }
            guard v <= available else { throw fail("length \(v) at offset \(offset) is past the end of \(location) (\(fileSize) bytes)") }
            length = v
        } else { length = available }
        guard length == UInt64(expectedBytes) else {
            throw fail("\(location) has \(length) bytes at offset \(offset), \(describe) needs \(expectedBytes)")
        }
        try handle.seek(toOffset: offset)
        let data = try handle.read(upToCount: expectedBytes) ?? Data()
        guard data.count == expectedBytes else { throw fail("read \(data.count) of \(expectedBytes) bytes from \(location)") }
        return data
    }
}
