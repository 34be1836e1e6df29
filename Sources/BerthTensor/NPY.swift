import Foundation

/// Reads and writes NumPy `.npy` files (format versions 1–3, little endian, C order).
/// Strings are read from and written as NumPy's fixed-width unicode (`<U n`).
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// Parses `.npy` bytes.
    public static func read(_ data: Data) throws -> Tensor {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw TensorError.npy("not an .npy file (bad magic)") }
        let major = bytes[6]
        let headerLen: Int
        let headerStart: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw TensorError.npy("truncated header") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        } else { throw TensorError.npy("unsupported format version \(major)") }
        guard headerStart + headerLen <= bytes.count else { throw TensorError.npy("truncated header") }
        guard let header = String(bytes: bytes[headerStart..<headerStart + headerLen], encoding: .utf8) else {
            throw TensorError.npy("header is not text")
        }
        let descr = try field(header, "descr")
        let fortran = try field(header, "fortran_order")
        guard fortran.hasPrefix("False") else { throw TensorError.npy("Fortran-order arrays are not supported") }
        let shape = try parseShape(try field(header, "shape"))
        let count = try Shape.elementCount(shape)
        let body = Data(bytes[(headerStart + headerLen)...])

        if descr.hasPrefix("<U") || descr.hasPrefix("|U") {
            guard let width = Int(descr.dropFirst(2)), width >= 0 else { throw TensorError.npy("bad string dtype \(descr)") }
            let (need, o) = count.multipliedReportingOverflow(by: width * 4)
            guard !o, body.count >= need else { throw TensorError.npy("data too short for \(shape) \(descr)") }
            var strings = [String]()
            strings.reserveCapacity(count)
            body.withUnsafeBytes { raw in
                for i in 0..<count {
                    var scalars = String.UnicodeScalarView()
                    for j in 0..<width {
                        let v = raw.loadUnaligned(fromByteOffset: (i * width + j) * 4, as: UInt32.self)
                        if v == 0 { break }
                        if let s = Unicode.Scalar(UInt32(littleEndian: v)) { scalars.append(s) }
                    }
                    strings.append(String(scalars))
                }
            }
            return try Tensor(shape: shape, storage: .string(strings))
        }
        guard let dtype = DType.allCases.first(where: { $0.numpyDescr == descr || alias(descr) == $0.numpyDescr }),
              dtype != .string else { throw TensorError.npy("unsupported dtype \(descr)") }
        let (need, o) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !o, body.count >= need else { throw TensorError.npy("data too short: \(shape) \(descr) needs \(need) bytes, file has \(body.count)") }
        return try Tensor(shape: shape, storage: TensorStorage.fromLittleEndian(body, dtype: dtype, count: count))
    }

    /// Reads a `.npy` file.
    public static func read(contentsOf url: URL) throws -> Tensor {
        try read(try Data(contentsOf: url))
    }

    /// Serialises a tensor as `.npy` (version 1) bytes.
    public static func write(_ tensor: Tensor) -> Data {
        var descr = tensor.dtype.numpyDescr
        var body: Data
        if case let .string(v) = tensor.storage {
            let width = max(1, v.map { $0.unicodeScalars.count }.max() ?? 1)
            descr = "<U\(width)"
            body = Data(capacity: v.count * width * 4)
            for s in v {
                var scalars = s.unicodeScalars.map { $0.value.littleEndian }
                scalars += Array(repeating: 0, count: width - scalars.count)
                scalars.withUnsafeBytes { body.append(contentsOf: $0) }
            }
        } else {
            body = tensor.storage.littleEndianData()
        }
        let shapeText = tensor.shape.isEmpty ? "()" : tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var out = Data(magic)
        out.append(contentsOf: [1, 0])
        let len = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(len & 0xff), UInt8(len >> 8)])
        out.append(header.data(using: .utf8)!)
        out.append(body)
        return out
    }

    private static func alias(_ d: String) -> String {
        switch d {
        case "<i1", "i1": return "|i1"
        case "<u1", "u1": return "|u1"
        case "<b1", "b1", "?": return "|b1"
        default: return d
        }
    }

    private static func field(_ header: String, _ key: String) throws -> String {
        guard let r = header.range(of: "'\(key)':") else { throw TensorError.npy("header has no '\(key)'") }
        var rest = header[r.upperBound...].drop(while: { $0 == " " })
        if rest.first == "'" {
            rest = rest.dropFirst()
            guard let end = rest.firstIndex(of: "'") else { throw TensorError.npy("bad header field \(key)") }
            return String(rest[..<end])
        }
        if rest.first == "(" {
            guard let end = rest.firstIndex(of: ")") else { throw TensorError.npy("bad shape") }
            return String(rest[...end])
        }
        return String(rest)
    }

    private static func parseShape(_ text: String) throws -> [Int] {
        let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        if inner.isEmpty { return [] }
        return try inner.split(separator: ",").compactMap { part in
            let t = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if t.isEmpty { return nil }
            guard let v = Int(t), v >= 0 else { throw TensorError.npy("bad shape \(text)") }
            return v
        }
    }
}

extension TensorStorage {
    /// Decodes `count` little-endian elements of `dtype` from raw bytes (ONNX raw_data and .npy).
    public static func fromLittleEndian(_ data: Data, dtype: DType, count: Int) throws -> TensorStorage {
        let (need, o) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !o, data.count >= need else { throw TensorError.countMismatch(shape: [count], expected: need, got: data.count) }
        func load<T: TensorElement>(_: T.Type) -> TensorStorage {
            let arr = [T](unsafeUninitializedCapacity: count) { buf, n in
                data.withUnsafeBytes { raw in
                    // Every supported host is little endian, so a byte copy is the decode.
                    if count > 0 { memcpy(buf.baseAddress!, raw.baseAddress!, count * MemoryLayout<T>.stride) }
                }
                n = count
            }
            return T.storage(arr)
        }
        switch dtype {
        case .bool:
            return .bool(data.prefix(count).map { $0 != 0 })
        case .string: throw TensorError.unsupportedDType("string from raw bytes")
        default: return dtype.withElementType { load($0) }
        }
    }

    /// The elements as little-endian bytes (not for strings).
    public func littleEndianData() -> Data {
        func bytes<T>(_ v: [T]) -> Data { v.withUnsafeBytes { Data($0) } }
        switch self {
        case let .float32(v): return bytes(v)
        case let .float64(v): return bytes(v)
        case let .float16(v): return bytes(v)
        case let .int8(v): return bytes(v)
        case let .uint8(v): return bytes(v)
        case let .int16(v): return bytes(v)
        case let .uint16(v): return bytes(v)
        case let .int32(v): return bytes(v)
        case let .uint32(v): return bytes(v)
        case let .int64(v): return bytes(v)
        case let .uint64(v): return bytes(v)
        case let .bool(v): return Data(v.map { $0 ? 1 : 0 })
        case .string: return Data()
        }
    }
}
