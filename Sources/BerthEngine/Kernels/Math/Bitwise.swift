import BerthONNX
import BerthTensor

/// BitwiseAnd, BitwiseOr, BitwiseXor (broadcasting) and BitwiseNot (opset 18) on every integer
/// dtype.
struct MathBitAndOp<T: FixedWidthInteger & TensorElement>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { a & b }
}
struct MathBitOrOp<T: FixedWidthInteger & TensorElement>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { a | b }
}
struct MathBitXorOp<T: FixedWidthInteger & TensorElement>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { a ^ b }
}

/// Runs `body` with the Swift integer type of `dtype`, or throws for non-integer dtypes.
private func mathWithInteger<R>(_ dtype: DType, op: String, _ body: (any (FixedWidthInteger & TensorElement).Type) throws -> R) throws -> R {
    switch dtype {
    case .int8: return try body(Int8.self)
    case .int16: return try body(Int16.self)
    case .int32: return try body(Int32.self)
    case .int64: return try body(Int64.self)
    case .uint8: return try body(UInt8.self)
    case .uint16: return try body(UInt16.self)
    case .uint32: return try body(UInt32.self)
    case .uint64: return try body(UInt64.self)
    default: throw KernelError("\(op) needs integer inputs, got \(dtype)")
    }
}

private enum MathBitwise { case and, or, xor }

private func mathBitwise(_ kind: MathBitwise, _ a: Tensor, _ b: Tensor, pool: ThreadPool, op: String) throws -> Tensor {
    guard a.dtype == b.dtype else { throw KernelError("\(op) inputs must have the same dtype, got \(a.dtype) and \(b.dtype)") }
    func run<T: FixedWidthInteger & TensorElement>(_: T.Type) throws -> Tensor {
        let x = try a.values(T.self), y = try b.values(T.self)
        switch kind {
        case .and: return try Broadcast.binary(MathBitAndOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        case .or: return try Broadcast.binary(MathBitOrOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        case .xor: return try Broadcast.binary(MathBitXorOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        }
    }
    return try mathWithInteger(a.dtype, op: op) { try run($0) }
}

extension KernelRegistry {
    mutating func registerBitwise() {
        for (op, kind) in [("BitwiseAnd", MathBitwise.and), ("BitwiseOr", .or), ("BitwiseXor", .xor)] {
            register(op, opsets: 18...Int.max) { _, _ in
                { inputs, ctx in [try mathBitwise(kind, try inputs.required(0), try inputs.required(1), pool: ctx.pool, op: op)] }
            }
        }
        register("BitwiseNot", opsets: 18...Int.max) { _, _ in
            { inputs, _ in
                let x = try inputs.required(0)
                func run<T: FixedWidthInteger & TensorElement>(_: T.Type) throws -> Tensor {
                    Tensor(unchecked: x.shape, storage: T.storage(try x.values(T.self).map { ~$0 }))
                }
                return [try mathWithInteger(x.dtype, op: "BitwiseNot") { try run($0) }]
            }
        }
    }
}
