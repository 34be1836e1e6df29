import BerthTensor

extension TensorStorage {
    /// The contiguous elements `range` (row slicing of a merged batch output).
    func slice(_ range: Range<Int>) -> TensorStorage {
        switch self {
        case let .float32(v): return .float32(Array(v[range]))
        case let .float64(v): return .float64(Array(v[range]))
        case let .float16(v): return .float16(Array(v[range]))
        case let .int8(v): return .int8(Array(v[range]))
        case let .uint8(v): return .uint8(Array(v[range]))
        case let .int16(v): return .int16(Array(v[range]))
        case let .uint16(v): return .uint16(Array(v[range]))
        case let .int32(v): return .int32(Array(v[range]))
        case let .uint32(v): return .uint32(Array(v[range]))
        case let .int64(v): return .int64(Array(v[range]))
        case let .uint64(v): return .uint64(Array(v[range]))
        case let .bool(v): return .bool(Array(v[range]))
        case let .string(v): return .string(Array(v[range]))
        }
    }
}
