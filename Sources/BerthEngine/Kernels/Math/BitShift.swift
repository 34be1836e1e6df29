import BerthONNX
import BerthTensor

/// BitShift on unsigned integers with broadcasting. A shift by the bit width or more gives 0
/// (Swift's smart shifts), where C++ would be undefined.
struct MathShiftLeftOp<T: FixedWidthInteger & TensorElement>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { a << b }
}
struct MathShiftRightOp<T: FixedWidthInteger & TensorElement>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { a >> b }
}

func mathBitShift(_ a: Tensor, _ b: Tensor, left: Bool, pool: ThreadPool) throws -> Tensor {
    guard a.dtype == b.dtype else { throw KernelError("BitShift inputs must have the same dtype, got \(a.dtype) and \(b.dtype)") }
    func run<T: FixedWidthInteger & TensorElement>(_: T.Type) throws -> Tensor {
        let x = try a.values(T.self), y = try b.values(T.self)
        return left ? try Broadcast.binary(MathShiftLeftOp<T>.self, x, a.shape, y, b.shape, pool: pool)
            : try Broadcast.binary(MathShiftRightOp<T>.self, x, a.shape, y, b.shape, pool: pool)
    }
    switch a.dtype {
    case .uint8: return try run(UInt8.self)
    case .uint16: return try run(UInt16.self)
    case .uint32: return try run(UInt32.self)
    case .uint64: return try run(UInt64.self)
    default: throw KernelError("BitShift needs unsigned integer inputs, got \(a.dtype)")
    }
}

extension KernelRegistry {
    mutating func registerBitShift() {
        register("BitShift", opsets: 11...Int.max) { node, _ in
            let direction = try node.string("direction", default: "")
            guard direction == "LEFT" || direction == "RIGHT" else {
                throw KernelError("BitShift direction must be LEFT or RIGHT, got '\(direction)'")
            }
            return { inputs, ctx in
                [try mathBitShift(try inputs.required(0), try inputs.required(1), left: direction == "LEFT", pool: ctx.pool)]
            }
        }
    }
}
