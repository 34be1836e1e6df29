extension TensorStorage {
    /// The contiguous elements `range` (e.g. a block of rows).
    public func slice(_ range: Range<Int>) -> TensorStorage {
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

extension Tensor {
    /// Rows `range` of axis 0 (the tensor itself when `range` covers every row).
    public func rows(_ range: Range<Int>) throws -> Tensor {
        guard let n = shape.first else { return self }
        if range == 0..<n { return self }
        guard range.lowerBound >= 0, range.upperBound <= n else {
            throw TensorError.invalidShape(shape, reason: "rows \(range) are out of range")
        }
        let width = n == 0 ? 0 : count / n
        return try Tensor(shape: [range.count] + shape.dropFirst(),
                          storage: storage.slice(range.lowerBound * width ..< range.upperBound * width))
    }

    /// The elements as Double (strings give NaN, bools 0/1; see ``TensorStorage/double(at:)``).
    public var doubles: [Double] {
        if case let .float64(v) = storage { return v }
        return (0..<count).map { storage.double(at: $0) }
    }
}
