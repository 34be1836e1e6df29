/// An n-dimensional array: a shape and a typed, row-major element buffer.
public struct Tensor: Sendable {
    /// The dimensions, outermost first. A scalar has shape `[]`.
    public private(set) var shape: [Int]
    /// The elements, row-major.
    public private(set) var storage: TensorStorage

    /// The element type.
    public var dtype: DType { storage.dtype }
    /// The number of elements.
    public var count: Int { storage.count }
    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// Makes a tensor after checking that `storage` holds exactly as many elements as `shape` needs.
    public init(shape: [Int], storage: TensorStorage) throws {
        let n = try Shape.elementCount(shape)
        guard n == storage.count else { throw TensorError.countMismatch(shape: shape, expected: n, got: storage.count) }
        self.shape = shape
        self.storage = storage
    }

    /// Makes a tensor from a typed array.
    public init<T: TensorElement>(shape: [Int], values: [T]) throws {
        try self.init(shape: shape, storage: T.storage(values))
    }

    /// Makes a tensor without checking the count; for kernels that computed both together.
    public init(unchecked shape: [Int], storage: TensorStorage) {
        assert((try? Shape.elementCount(shape)) == storage.count, "shape \(shape) vs \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of zeros.
    public static func zeros(_ dtype: DType, shape: [Int]) throws -> Tensor {
        Tensor(unchecked: shape, storage: .zeros(dtype, count: try Shape.elementCount(shape)))
    }

    /// A rank-0 tensor.
    public static func scalar<T: TensorElement>(_ value: T) -> Tensor {
        Tensor(unchecked: [], storage: T.storage([value]))
    }

    /// The elements as `[T]`, or an error when the dtype differs.
    public func values<T: TensorElement>(_: T.Type = T.self) throws -> [T] {
        guard let v = T.values(in: storage) else { throw TensorError.dtypeMismatch(expected: T.dtype, got: dtype) }
        return v
    }

    /// The float32 elements; traps on another dtype, so use only after checking `dtype`.
    public var floats: [Float] {
        guard case let .float32(v) = storage else { preconditionFailure("tensor is \(dtype), not float") }
        return v
    }

    /// Integer elements (any integer dtype) as `Int`; used for shapes, axes and indices.
    public func integers() throws -> [Int] {
        switch storage {
        case let .int64(v): return v.map { Int($0) }
        case let .int32(v): return v.map { Int($0) }
        case let .int8(v): return v.map { Int($0) }
        case let .int16(v): return v.map { Int($0) }
        case let .uint8(v): return v.map { Int($0) }
        case let .uint16(v): return v.map { Int($0) }
        case let .uint32(v): return v.map { Int($0) }
        case let .uint64(v): return v.map { Int(truncatingIfNeeded: $0) }
        default: throw TensorError.dtypeMismatch(expected: .int64, got: dtype)
        }
    }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        try Tensor(shape: newShape, storage: storage)
    }
}

extension Tensor: CustomStringConvertible {
    /// A short summary, e.g. `float[2, 3] [0.1, 0.2, ...]`.
    public var description: String {
        let n = min(count, 8)
        let items: [String]
        if case let .string(v) = storage { items = v.prefix(n).map { "\"\($0)\"" } } else {
            // Integers print exactly (through Double, a uint64 above Int64.max would trap).
            items = (0..<n).map { i in
                switch storage {
                case let .int8(v): return String(v[i])
                case let .uint8(v): return String(v[i])
                case let .int16(v): return String(v[i])
                case let .uint16(v): return String(v[i])
                case let .int32(v): return String(v[i])
                case let .uint32(v): return String(v[i])
                case let .int64(v): return String(v[i])
                case let .uint64(v): return String(v[i])
                case let .bool(v): return String(v[i])
                default: return String(format: "%.6g", storage.double(at: i))
                }
            }
        }
        return "\(dtype)\(shape) [\(items.joined(separator: ", "))\(count > n ? ", ..." : "")]"
    }
}

#if canImport(Foundation)
import Foundation
#endif
