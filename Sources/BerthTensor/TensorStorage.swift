/// The typed element buffer behind a ``Tensor``. Arrays give copy-on-write value semantics, so a
/// tensor can be shared between threads and reshaped without copying.
public enum TensorStorage: Sendable {
    case float32([Float])
    case float64([Double])
    case float16([Float16])
    case int8([Int8])
    case uint8([UInt8])
    case int16([Int16])
    case uint16([UInt16])
    case int32([Int32])
    case uint32([UInt32])
    case int64([Int64])
    case uint64([UInt64])
    case bool([Bool])
    case string([String])

    /// The dtype of the elements.
    public var dtype: DType {
        switch self {
        case .float32: return .float32
        case .float64: return .float64
        case .float16: return .float16
        case .int8: return .int8
        case .uint8: return .uint8
        case .int16: return .int16
        case .uint16: return .uint16
        case .int32: return .int32
        case .uint32: return .uint32
        case .int64: return .int64
        case .uint64: return .uint64
        case .bool: return .bool
        case .string: return .string
        }
    }

    /// The number of elements held.
    public var count: Int {
        switch self {
        case let .float32(v): return v.count
        case let .float64(v): return v.count
        case let .float16(v): return v.count
        case let .int8(v): return v.count
        case let .uint8(v): return v.count
        case let .int16(v): return v.count
        case let .uint16(v): return v.count
        case let .int32(v): return v.count
        case let .uint32(v): return v.count
        case let .int64(v): return v.count
        case let .uint64(v): return v.count
        case let .bool(v): return v.count
        case let .string(v): return v.count
        }
    }

    /// Storage of `count` zero (or false / empty) elements.
    public static func zeros(_ dtype: DType, count: Int) -> TensorStorage {
        switch dtype {
        case .float32: return .float32(Array(repeating: 0, count: count))
        case .float64: return .float64(Array(repeating: 0, count: count))
        case .float16: return .float16(Array(repeating: 0, count: count))
        case .int8: return .int8(Array(repeating: 0, count: count))
        case .uint8: return .uint8(Array(repeating: 0, count: count))
        case .int16: return .int16(Array(repeating: 0, count: count))
        case .uint16: return .uint16(Array(repeating: 0, count: count))
        case .int32: return .int32(Array(repeating: 0, count: count))
        case .uint32: return .uint32(Array(repeating: 0, count: count))
        case .int64: return .int64(Array(repeating: 0, count: count))
        case .uint64: return .uint64(Array(repeating: 0, count: count))
        case .bool: return .bool(Array(repeating: false, count: count))
        case .string: return .string(Array(repeating: "", count: count))
        }
    }

    /// Applies the same index gather to any element type: `result[i] = self[indices[i]]`.
    /// Shape kernels (Transpose, Slice, Gather, Expand, Tile ...) are written once this way.
    public func gather(_ indices: [Int]) -> TensorStorage {
        @inline(__always) func g<T>(_ v: [T]) -> [T] {
            [T](unsafeUninitializedCapacity: indices.count) { buf, n in
                v.withUnsafeBufferPointer { src in
                    for (i, j) in indices.enumerated() { (buf.baseAddress! + i).initialize(to: src[j]) }
                }
                n = indices.count
            }
        }
        switch self {
        case let .float32(v): return .float32(g(v))
        case let .float64(v): return .float64(g(v))
        case let .float16(v): return .float16(g(v))
        case let .int8(v): return .int8(g(v))
        case let .uint8(v): return .uint8(g(v))
        case let .int16(v): return .int16(g(v))
        case let .uint16(v): return .uint16(g(v))
        case let .int32(v): return .int32(g(v))
        case let .uint32(v): return .uint32(g(v))
        case let .int64(v): return .int64(g(v))
        case let .uint64(v): return .uint64(g(v))
        case let .bool(v): return .bool(g(v))
        case let .string(v): return .string(g(v))
        }
    }

    /// Concatenates storages of the same dtype in order.
    public static func concatenate(_ parts: [TensorStorage]) throws -> TensorStorage {
        guard let first = parts.first else { throw TensorError.unsupportedDType("concatenate of nothing") }
        for p in parts where p.dtype != first.dtype { throw TensorError.dtypeMismatch(expected: first.dtype, got: p.dtype) }
        func c<T: TensorElement>(_: T.Type) -> TensorStorage {
            var out: [T] = []
            out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
            for p in parts { out.append(contentsOf: T.values(in: p)!) }
            return T.storage(out)
        }
        return first.dtype.withElementType { c($0) }
    }

    /// Element `i` converted to Double (strings give NaN, bools 0/1). For printing and tests.
    public func double(at i: Int) -> Double {
        switch self {
        case let .float32(v): return Double(v[i])
        case let .float64(v): return v[i]
        case let .float16(v): return Double(v[i])
        case let .int8(v): return Double(v[i])
        case let .uint8(v): return Double(v[i])
        case let .int16(v): return Double(v[i])
        case let .uint16(v): return Double(v[i])
        case let .int32(v): return Double(v[i])
        case let .uint32(v): return Double(v[i])
        case let .int64(v): return Double(v[i])
        case let .uint64(v): return Double(v[i])
        case let .bool(v): return v[i] ? 1 : 0
        case .string: return .nan
        }
    }
}
