import BerthTensor
import Foundation

// Elementwise two-input kernels: arithmetic (Add Sub Mul Div Mod Pow, and Max Min for the
// variadic ops), comparisons and logical ops, all on top of `Broadcast.binary`.

// MARK: Element operations

struct MathAddOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { T.mathAdd(a, b) }
}
struct MathSubOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { T.mathSub(a, b) }
}
struct MathMulOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { T.mathMul(a, b) }
}
struct MathDivOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { T.mathDiv(a, b) }
}
struct MathMaxOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { T.mathMax(a, b) }
}
struct MathMinOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { T.mathMin(a, b) }
}
struct MathFmodOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { T.mathFmod(a, b) }
    static var grain: Int { 1 << 12 }
}
struct MathFloorModOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { T.mathFloorMod(a, b) }
    static var grain: Int { 1 << 12 }
}
struct MathPowOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { T.mathPow(a, b) }
    static var grain: Int { 1 << 12 }
}
/// An integer base with a real exponent: computed in Double and converted back (saturating).
struct MathPowRealOp<T: MathScalar>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: Double) -> T { T(fromDouble: Foundation.pow(a.doubleValue, b)) }
    static var grain: Int { 1 << 12 }
}
/// `x * x * x`, for Pow with the constant exponent 3 (GELU's tanh approximation); ignores `b`.
struct MathCubeOp: BinaryElementOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * a * a }
}
/// `sqrt(x)`, for Pow with the constant exponent 0.5; ignores `b`.
struct MathSqrtOp: BinaryElementOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a.squareRoot() }
}

struct MathEqualOp<T: Equatable>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> Bool { a == b }
}
struct MathLessOp<T: Comparable>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> Bool { a < b }
}
struct MathLessOrEqualOp<T: Comparable>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> Bool { a <= b }
}
struct MathGreaterOp<T: Comparable>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> Bool { a > b }
}
struct MathGreaterOrEqualOp<T: Comparable>: BinaryElementOp {
    @inline(__always) static func apply(_ a: T, _ b: T) -> Bool { a >= b }
}
struct MathAndOp: BinaryElementOp {
    @inline(__always) static func apply(_ a: Bool, _ b: Bool) -> Bool { a && b }
}
struct MathOrOp: BinaryElementOp {
    @inline(__always) static func apply(_ a: Bool, _ b: Bool) -> Bool { a || b }
}
struct MathXorOp: BinaryElementOp {
    @inline(__always) static func apply(_ a: Bool, _ b: Bool) -> Bool { a != b }
}

// MARK: Arithmetic

/// The same-type arithmetic operations.
enum MathArithmetic: Sendable {
    case add, sub, mul, div, max, min, fmod, floorMod, pow

    var name: String {
        switch self {
        case .add: return "Add"
        case .sub: return "Sub"
        case .mul: return "Mul"
        case .div: return "Div"
        case .max: return "Max"
        case .min: return "Min"
        case .fmod, .floorMod: return "Mod"
        case .pow: return "Pow"
        }
    }
}

private struct MathArithmeticVisitor: MathTypeVisitor {
    let op: MathArithmetic
    let a: Tensor
    let b: Tensor
    let pool: ThreadPool

    func visit<T: MathScalar>(_: T.Type) throws -> Tensor {
        let x = try a.values(T.self)
        let y = try b.values(T.self)
        switch op {
        case .add: return try Broadcast.binary(MathAddOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        case .sub: return try Broadcast.binary(MathSubOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        case .mul: return try Broadcast.binary(MathMulOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        case .max: return try Broadcast.binary(MathMaxOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        case .min: return try Broadcast.binary(MathMinOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        case .pow: return try Broadcast.binary(MathPowOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        case .div, .fmod, .floorMod:
            if T.mathIsInteger && y.contains(where: { $0.mathIsZero }) {
                throw KernelError("integer \(op == .div ? "division" : "modulo") by zero")
            }
            switch op {
            case .div: return try Broadcast.binary(MathDivOp<T>.self, x, a.shape, y, b.shape, pool: pool)
            case .fmod: return try Broadcast.binary(MathFmodOp<T>.self, x, a.shape, y, b.shape, pool: pool)
            default: return try Broadcast.binary(MathFloorModOp<T>.self, x, a.shape, y, b.shape, pool: pool)
            }
        }
    }
}

/// `a op b` with broadcasting; both inputs must have the same numeric dtype.
func mathArithmetic(_ op: MathArithmetic, _ a: Tensor, _ b: Tensor, pool: ThreadPool) throws -> Tensor {
    guard a.dtype == b.dtype else {
        throw KernelError("\(op.name) inputs must have the same dtype, got \(a.dtype) and \(b.dtype)")
    }
    guard let r = try mathDispatch(a.dtype, MathArithmeticVisitor(op: op, a: a, b: b, pool: pool)) else {
        throw KernelError("\(op.name) does not support dtype \(a.dtype)")
    }
    return r
}

/// The elements of any numeric tensor converted to `T` (through Double; integers saturate).
func mathNumericValues<T: NumericElement>(_ t: Tensor, as _: T.Type) throws -> [T] {
    switch t.storage {
    case let .float32(v): return mathConvert(v, to: T.self)
    case let .float64(v): return mathConvert(v, to: T.self)
    case let .float16(v): return mathConvert(v, to: T.self)
    case let .int8(v): return mathConvert(v, to: T.self)
    case let .uint8(v): return mathConvert(v, to: T.self)
    case let .int16(v): return mathConvert(v, to: T.self)
    case let .uint16(v): return mathConvert(v, to: T.self)
    case let .int32(v): return mathConvert(v, to: T.self)
    case let .uint32(v): return mathConvert(v, to: T.self)
    case let .int64(v): return mathConvert(v, to: T.self)
    case let .uint64(v): return mathConvert(v, to: T.self)
    case .bool, .string: throw KernelError("expected a numeric tensor, got \(t.dtype)")
    }
}

private struct MathPowVisitor: MathTypeVisitor {
    let a: Tensor
    let b: Tensor
    let pool: ThreadPool

    func visit<T: MathScalar>(_: T.Type) throws -> Tensor {
        let x = try a.values(T.self)
        if !T.mathIsInteger || !b.dtype.isFloatingPoint {
            // Float base, or integer base with integer exponent: compute in the base type.
            let y = try mathNumericValues(b, as: T.self)
            return try Broadcast.binary(MathPowOp<T>.self, x, a.shape, y, b.shape, pool: pool)
        }
        let y = try mathNumericValues(b, as: Double.self)
        return try Broadcast.binary(MathPowRealOp<T>.self, x, a.shape, y, b.shape, pool: pool)
    }
}

/// ONNX Pow: the output has the base's dtype; the exponent may have another numeric dtype.
func mathPow(_ a: Tensor, _ b: Tensor, pool: ThreadPool) throws -> Tensor {
    if case let .float32(x) = a.storage, b.count == 1, b.rank <= a.rank, b.dtype != .bool, b.dtype != .string {
        // Constant exponents from exported graphs (LayerNorm's square, GELU's cube) skip powf.
        switch b.storage.double(at: 0) {
        case 1: return a
        case 2: return try Broadcast.binary(MathMulOp<Float>.self, x, a.shape, x, a.shape, pool: pool)
        case 3: return try Broadcast.binary(MathCubeOp.self, x, a.shape, x, a.shape, pool: pool)
        case 0.5: return try Broadcast.binary(MathSqrtOp.self, x, a.shape, x, a.shape, pool: pool)
        default: break
        }
    }
    guard let r = try mathDispatch(a.dtype, MathPowVisitor(a: a, b: b, pool: pool)) else {
        throw KernelError("Pow does not support base dtype \(a.dtype)")
    }
    return r
}

// MARK: Comparisons and logic

enum MathComparison: Sendable {
    case equal, less, lessOrEqual, greater, greaterOrEqual

    var name: String {
        switch self {
        case .equal: return "Equal"
        case .less: return "Less"
        case .lessOrEqual: return "LessOrEqual"
        case .greater: return "Greater"
        case .greaterOrEqual: return "GreaterOrEqual"
        }
    }
}

private struct MathComparisonVisitor: MathTypeVisitor {
    let op: MathComparison
    let a: Tensor
    let b: Tensor
    let pool: ThreadPool

    func visit<T: MathScalar>(_: T.Type) throws -> Tensor {
        try mathCompare(op, try a.values(T.self), a.shape, try b.values(T.self), b.shape, pool: pool)
    }
}

private func mathCompare<T: Comparable>(
    _ op: MathComparison, _ x: [T], _ xShape: [Int], _ y: [T], _ yShape: [Int], pool: ThreadPool
) throws -> Tensor {
    switch op {
    case .equal: return try Broadcast.binary(MathEqualOp<T>.self, x, xShape, y, yShape, pool: pool)
    case .less: return try Broadcast.binary(MathLessOp<T>.self, x, xShape, y, yShape, pool: pool)
    case .lessOrEqual: return try Broadcast.binary(MathLessOrEqualOp<T>.self, x, xShape, y, yShape, pool: pool)
    case .greater: return try Broadcast.binary(MathGreaterOp<T>.self, x, xShape, y, yShape, pool: pool)
    case .greaterOrEqual: return try Broadcast.binary(MathGreaterOrEqualOp<T>.self, x, xShape, y, yShape, pool: pool)
    }
}

/// A comparison with broadcasting, giving a bool tensor. Numeric dtypes for all; Equal also
/// accepts bool and string.
func mathComparison(_ op: MathComparison, _ a: Tensor, _ b: Tensor, pool: ThreadPool) throws -> Tensor {
    guard a.dtype == b.dtype else {
        throw KernelError("\(op.name) inputs must have the same dtype, got \(a.dtype) and \(b.dtype)")
    }
    switch (a.storage, b.storage) {
    case let (.bool(x), .bool(y)) where op == .equal:
        return try Broadcast.binary(MathEqualOp<Bool>.self, x, a.shape, y, b.shape, pool: pool)
    case let (.string(x), .string(y)):
        return try mathCompare(op, x, a.shape, y, b.shape, pool: pool)
    default:
        guard let r = try mathDispatch(a.dtype, MathComparisonVisitor(op: op, a: a, b: b, pool: pool)) else {
            throw KernelError("\(op.name) does not support dtype \(a.dtype)")
        }
        return r
    }
}

enum MathLogical: Sendable {
    case and, or, xor
}

/// And / Or / Xor of two bool tensors with broadcasting.
func mathLogical(_ op: MathLogical, _ a: Tensor, _ b: Tensor, pool: ThreadPool) throws -> Tensor {
    guard case let .bool(x) = a.storage, case let .bool(y) = b.storage else {
        throw KernelError("logical ops need bool inputs, got \(a.dtype) and \(b.dtype)")
    }
    switch op {
    case .and: return try Broadcast.binary(MathAndOp.self, x, a.shape, y, b.shape, pool: pool)
    case .or: return try Broadcast.binary(MathOrOp.self, x, a.shape, y, b.shape, pool: pool)
    case .xor: return try Broadcast.binary(MathXorOp.self, x, a.shape, y, b.shape, pool: pool)
    }
}

// MARK: Variadic

private struct MathScaleVisitor: MathTypeVisitor {
    let a: Tensor
    let divisor: Int
    let pool: ThreadPool

    func visit<T: MathScalar>(_: T.Type) throws -> Tensor {
        try Broadcast.binary(MathDivOp<T>.self, try a.values(T.self), a.shape, [T(fromDouble: Double(divisor))], [], pool: pool)
    }
}

/// Max / Min / Sum / Mean over 1...N inputs broadcast together (Mean divides the sum by N).
func mathVariadic(_ op: MathArithmetic, mean: Bool = false, _ inputs: [Tensor], pool: ThreadPool) throws -> Tensor {
    guard var acc = inputs.first else { throw KernelError("needs at least one input") }
    for t in inputs.dropFirst() { acc = try mathArithmetic(op, acc, t, pool: pool) }
    if mean && inputs.count > 1 {
        guard let r = try mathDispatch(acc.dtype, MathScaleVisitor(a: acc, divisor: inputs.count, pool: pool)) else {
            throw KernelError("Mean does not support dtype \(acc.dtype)")
        }
        acc = r
    }
    return acc
}
