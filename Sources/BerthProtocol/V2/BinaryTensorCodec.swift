import BerthTensor
import Foundation
import NIOCore

/// Triton's binary tensor extension: raw little-endian elements; `BYTES` elements each as a
/// 4-byte little-endian length and the bytes. Used by the server (requests in, responses out) and
/// by `berth bench` (requests out).
public enum BinaryTensorCodec {
    /// Decodes `count` elements of `dtype` from exactly `bytes`. Sizes are compared with the bytes
    /// present before anything is allocated, so a huge declared shape cannot reserve memory.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, dtype: DType, count: Int, name: String,
                              shape: [Int]) throws -> TensorStorage {
        if dtype == .string { return try decodeStrings(bytes, count: count, name: name, shape: shape) }
        let (need, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes.count == need else {
            throw V2RequestError("input '\(name)': binary_data_size \(bytes.count) does not match shape \(shape) of "
                                 + "\(dtype.v2Name)" + (overflow ? "" : " (needs \(need) bytes)"))
        }
        if dtype == .bool { return .bool(bytes.map { $0 != 0 }) }
        func load<T: TensorElement>(_: T.Type) -> TensorStorage {
            T.storage([T](unsafeUninitializedCapacity: count) { buf, n in
                if count > 0 { memcpy(buf.baseAddress!, bytes.baseAddress!, need) }
                n = count
            })
        }
        return dtype.withElementType { load($0) }
    }

    private static func decodeStrings(_ bytes: UnsafeBufferPointer<UInt8>, count: Int, name: String,
                                      shape: [Int]) throws -> TensorStorage {
        // Every element takes at least its 4-byte length: never reserve more than the bytes allow.
        guard count <= bytes.count / 4 else {
            throw V2RequestError("input '\(name)': shape \(shape) needs \(count) BYTES elements, "
                                 + "\(bytes.count) binary bytes hold at most \(bytes.count / 4)")
        }
        var strings: [String] = []
        strings.reserveCapacity(count)
        var p = 0
        while p < bytes.count {
            guard bytes.count - p >= 4 else { throw V2RequestError("input '\(name)': truncated BYTES length prefix") }
            let len = Int(UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
            p += 4
            guard len <= bytes.count - p else { throw V2RequestError("input '\(name)': BYTES element overruns binary_data_size") }
            guard strings.count < count else {
                throw V2RequestError("input '\(name)': binary data holds more than the \(count) elements shape \(shape) needs")
            }
            strings.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[p..<p + len]), as: UTF8.self))
            p += len
        }
        guard strings.count == count else {
            throw V2RequestError("input '\(name)': shape \(shape) needs \(count) elements, binary data holds \(strings.count)")
        }
        return .string(strings)
    }

    /// Bytes of a tensor in the extension's layout.
    public static func byteCount(_ s: TensorStorage) -> Int {
        if case let .string(v) = s { return v.reduce(0) { $0 + 4 + $1.utf8.count } }
        return s.count * s.dtype.byteSize
    }

    /// A tensor's elements in the extension's layout, as one value (gRPC's `raw_output_contents`).
    public static func data(_ s: TensorStorage) -> Data {
        func raw<T>(_ v: [T]) -> Data { v.withUnsafeBytes { Data($0) } }
        switch s {
        case let .float32(v): return raw(v)
        case let .float64(v): return raw(v)
        case let .int64(v): return raw(v)
        case let .int32(v): return raw(v)
        default:
            var buffer = ByteBufferAllocator().buffer(capacity: byteCount(s))
            write(s, to: &buffer)
            return Data(buffer.readableBytesView)
        }
    }

    /// Appends a tensor's elements in the extension's layout.
    public static func write(_ s: TensorStorage, to buffer: inout ByteBuffer) {
        func raw<T>(_ v: [T]) { v.withUnsafeBytes { _ = buffer.writeBytes($0) } }
        switch s {
        case let .float32(v): raw(v)
        case let .float64(v): raw(v)
        case let .float16(v): raw(v)
        case let .int8(v): raw(v)
        case let .uint8(v): raw(v)
        case let .int16(v): raw(v)
        case let .uint16(v): raw(v)
        case let .int32(v): raw(v)
        case let .uint32(v): raw(v)
        case let .int64(v): raw(v)
        case let .uint64(v): raw(v)
        case let .bool(v): for b in v { buffer.writeInteger(b ? 1 : 0 as UInt8) }
        case let .string(v):
            for str in v {
                buffer.writeInteger(UInt32(str.utf8.count), endianness: .little)
                buffer.writeString(str)
            }
        }
    }
}
