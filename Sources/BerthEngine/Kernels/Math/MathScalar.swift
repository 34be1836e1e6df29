import BerthTensor
import Foundation

/// Element arithmetic with ONNX Runtime's semantics, so that kernels never trap on user data:
/// integer `+ - *` wrap, integer division truncates toward zero (the caller rejects zero divisors
/// first), float `max`/`min` propagate NaN like NumPy.
internal protocol MathScalar: NumericElement {
    /// True for the integer types.
    static var mathIsInteger: Bool { get }
    static func mathAdd(_ a: Self, _ b: Self) -> Self
    static func mathSub(_ a: Self, _ b: Self) -> Self
    static func mathMul(_ a: Self, _ b: Self) -> Self
    /// Division; integers truncate toward zero and wrap on `min / -1`.
    static func mathDiv(_ a: Self, _ b: Self) -> Self
    /// The remainder with the sign of the dividend (C `fmod`).
    static func mathFmod(_ a: Self, _ b: Self) -> Self
    /// `a` raised to `b`; integers use exact wrapping repeated squaring.
    static func mathPow(_ a: Self, _ b: Self) -> Self
    static func mathMax(_ a: Self, _ b: Self) -> Self
    static func mathMin(_ a: Self, _ b: Self) -> Self
    /// True when the value is zero (used to reject integer division by zero).
    var mathIsZero: Bool { get }
}

extension MathScalar {
    /// The remainder with the sign of the divisor (Python `%`, ONNX Mod with `fmod=0`).
    @inline(__always)
    static func mathFloorMod(_ a: Self, _ b: Self) -> Self {
        let r = mathFmod(a, b)
        if r != .zero && ((r < .zero) != (b < .zero)) { return mathAdd(r, b) }
        return r
    }
}

/// Shared float implementations; each float type forwards to these.
extension BinaryFloatingPoint {
    @inline(__always) fileprivate static func mathFloatMax(_ a: Self, _ b: Self) -> Self {
        if a.isNaN || b.isNaN { return .nan }
        return a > b ? a : b
    }
    @inline(__always) fileprivate static func mathFloatMin(_ a: Self, _ b: Self) -> Self {
        if a.isNaN || b.isNaN { return .nan }
        return a < b ? a : b
    }
}

extension Float: MathScalar {
    static var mathIsInteger: Bool { false }
    @inline(__always) static func mathAdd(_ a: Float, _ b: Float) -> Float { a + b }
    @inline(__always) static func mathSub(_ a: Float, _ b: Float) -> Float { a - b }
    @inline(__always) static func mathMul(_ a: Float, _ b: Float) -> Float { a * b }
    @inline(__always) static func mathDiv(_ a: Float, _ b: Float) -> Float { a / b }
    @inline(__always) static func mathFmod(_ a: Float, _ b: Float) -> Float { fmodf(a, b) }
    @inline(__always) static func mathPow(_ a: Float, _ b: Float) -> Float { powf(a, b) }
    @inline(__always) static func mathMax(_ a: Float, _ b: Float) -> Float { mathFloatMax(a, b) }
    @inline(__always) static func mathMin(_ a: Float, _ b: Float) -> Float { mathFloatMin(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

extension Double: MathScalar {
    static var mathIsInteger: Bool { false }
    @inline(__always) static func mathAdd(_ a: Double, _ b: Double) -> Double { a + b }
    @inline(__always) static func mathSub(_ a: Double, _ b: Double) -> Double { a - b }
    @inline(__always) static func mathMul(_ a: Double, _ b: Double) -> Double { a * b }
    @inline(__always) static func mathDiv(_ a: Double, _ b: Double) -> Double { a / b }
    @inline(__always) static func mathFmod(_ a: Double, _ b: Double) -> Double { fmod(a, b) }
    @inline(__always) static func mathPow(_ a: Double, _ b: Double) -> Double { pow(a, b) }
    @inline(__always) static func mathMax(_ a: Double, _ b: Double) -> Double { mathFloatMax(a, b) }
    @inline(__always) static func mathMin(_ a: Double, _ b: Double) -> Double { mathFloatMin(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

/// Float16 arithmetic goes through Float, as ONNX Runtime does, and rounds once per result.
extension Float16: MathScalar {
    static var mathIsInteger: Bool { false }
    @inline(__always) static func mathAdd(_ a: Float16, _ b: Float16) -> Float16 { Float16(Float(a) + Float(b)) }
    @inline(__always) static func mathSub(_ a: Float16, _ b: Float16) -> Float16 { Float16(Float(a) - Float(b)) }
    @inline(__always) static func mathMul(_ a: Float16, _ b: Float16) -> Float16 { Float16(Float(a) * Float(b)) }
    @inline(__always) static func mathDiv(_ a: Float16, _ b: Float16) -> Float16 { Float16(Float(a) / Float(b)) }
    @inline(__always) static func mathFmod(_ a: Float16, _ b: Float16) -> Float16 { Float16(fmodf(Float(a), Float(b))) }
    @inline(__always) static func mathPow(_ a: Float16, _ b: Float16) -> Float16 { Float16(powf(Float(a), Float(b))) }
    @inline(__always) static func mathMax(_ a: Float16, _ b: Float16) -> Float16 { mathFloatMax(a, b) }
    @inline(__always) static func mathMin(_ a: Float16, _ b: Float16) -> Float16 { mathFloatMin(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

/// Integer implementations shared by every fixed-width integer type.
extension FixedWidthInteger {
    @inline(__always) fileprivate static func mathIntDiv(_ a: Self, _ b: Self) -> Self {
        a.dividedReportingOverflow(by: b).partialValue
    }
    @inline(__always) fileprivate static func mathIntRem(_ a: Self, _ b: Self) -> Self {
        a.remainderReportingOverflow(dividingBy: b).partialValue
    }
    /// Exact power by repeated squaring with wrapping; a negative exponent gives what truncating
    /// the real result gives (0, or ±1 for a base of ±1).
    @inline(__always) fileprivate static func mathIntPow(_ a: Self, _ b: Self) -> Self {
        if b < 0 {
            if a == 1 { return 1 }
            // ~0 is -1 for signed types.
            if Self.isSigned && a == ~Self.zero { return (b & 1) == 0 ? 1 : a }
            return 0
        }
        var result: Self = 1
        var base = a
        var e = b
        while e != 0 {
            if e & 1 != 0 { result = result &* base }
            e >>= 1
            if e != 0 { base = base &* base }
        }
        return result
    }
}

extension Int8: MathScalar {
    static var mathIsInteger: Bool { true }
    @inline(__always) static func mathAdd(_ a: Int8, _ b: Int8) -> Int8 { a &+ b }
    @inline(__always) static func mathSub(_ a: Int8, _ b: Int8) -> Int8 { a &- b }
    @inline(__always) static func mathMul(_ a: Int8, _ b: Int8) -> Int8 { a &* b }
    @inline(__always) static func mathDiv(_ a: Int8, _ b: Int8) -> Int8 { mathIntDiv(a, b) }
    @inline(__always) static func mathFmod(_ a: Int8, _ b: Int8) -> Int8 { mathIntRem(a, b) }
    @inline(__always) static func mathPow(_ a: Int8, _ b: Int8) -> Int8 { mathIntPow(a, b) }
    @inline(__always) static func mathMax(_ a: Int8, _ b: Int8) -> Int8 { Swift.max(a, b) }
    @inline(__always) static func mathMin(_ a: Int8, _ b: Int8) -> Int8 { Swift.min(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

extension UInt8: MathScalar {
    static var mathIsInteger: Bool { true }
    @inline(__always) static func mathAdd(_ a: UInt8, _ b: UInt8) -> UInt8 { a &+ b }
    @inline(__always) static func mathSub(_ a: UInt8, _ b: UInt8) -> UInt8 { a &- b }
    @inline(__always) static func mathMul(_ a: UInt8, _ b: UInt8) -> UInt8 { a &* b }
    @inline(__always) static func mathDiv(_ a: UInt8, _ b: UInt8) -> UInt8 { mathIntDiv(a, b) }
    @inline(__always) static func mathFmod(_ a: UInt8, _ b: UInt8) -> UInt8 { mathIntRem(a, b) }
    @inline(__always) static func mathPow(_ a: UInt8, _ b: UInt8) -> UInt8 { mathIntPow(a, b) }
    @inline(__always) static func mathMax(_ a: UInt8, _ b: UInt8) -> UInt8 { Swift.max(a, b) }
    @inline(__always) static func mathMin(_ a: UInt8, _ b: UInt8) -> UInt8 { Swift.min(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

extension Int16: MathScalar {
    static var mathIsInteger: Bool { true }
    @inline(__always) static func mathAdd(_ a: Int16, _ b: Int16) -> Int16 { a &+ b }
    @inline(__always) static func mathSub(_ a: Int16, _ b: Int16) -> Int16 { a &- b }
    @inline(__always) static func mathMul(_ a: Int16, _ b: Int16) -> Int16 { a &* b }
    @inline(__always) static func mathDiv(_ a: Int16, _ b: Int16) -> Int16 { mathIntDiv(a, b) }
    @inline(__always) static func mathFmod(_ a: Int16, _ b: Int16) -> Int16 { mathIntRem(a, b) }
    @inline(__always) static func mathPow(_ a: Int16, _ b: Int16) -> Int16 { mathIntPow(a, b) }
    @inline(__always) static func mathMax(_ a: Int16, _ b: Int16) -> Int16 { Swift.max(a, b) }
    @inline(__always) static func mathMin(_ a: Int16, _ b: Int16) -> Int16 { Swift.min(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

extension UInt16: MathScalar {
    static var mathIsInteger: Bool { true }
    @inline(__always) static func mathAdd(_ a: UInt16, _ b: UInt16) -> UInt16 { a &+ b }
    @inline(__always) static func mathSub(_ a: UInt16, _ b: UInt16) -> UInt16 { a &- b }
    @inline(__always) static func mathMul(_ a: UInt16, _ b: UInt16) -> UInt16 { a &* b }
    @inline(__always) static func mathDiv(_ a: UInt16, _ b: UInt16) -> UInt16 { mathIntDiv(a, b) }
    @inline(__always) static func mathFmod(_ a: UInt16, _ b: UInt16) -> UInt16 { mathIntRem(a, b) }
    @inline(__always) static func mathPow(_ a: UInt16, _ b: UInt16) -> UInt16 { mathIntPow(a, b) }
    @inline(__always) static func mathMax(_ a: UInt16, _ b: UInt16) -> UInt16 { Swift.max(a, b) }
    @inline(__always) static func mathMin(_ a: UInt16, _ b: UInt16) -> UInt16 { Swift.min(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

extension Int32: MathScalar {
    static var mathIsInteger: Bool { true }
    @inline(__always) static func mathAdd(_ a: Int32, _ b: Int32) -> Int32 { a &+ b }
    @inline(__always) static func mathSub(_ a: Int32, _ b: Int32) -> Int32 { a &- b }
    @inline(__always) static func mathMul(_ a: Int32, _ b: Int32) -> Int32 { a &* b }
    @inline(__always) static func mathDiv(_ a: Int32, _ b: Int32) -> Int32 { mathIntDiv(a, b) }
    @inline(__always) static func mathFmod(_ a: Int32, _ b: Int32) -> Int32 { mathIntRem(a, b) }
    @inline(__always) static func mathPow(_ a: Int32, _ b: Int32) -> Int32 { mathIntPow(a, b) }
    @inline(__always) static func mathMax(_ a: Int32, _ b: Int32) -> Int32 { Swift.max(a, b) }
    @inline(__always) static func mathMin(_ a: Int32, _ b: Int32) -> Int32 { Swift.min(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

extension UInt32: MathScalar {
    static var mathIsInteger: Bool { true }
    @inline(__always) static func mathAdd(_ a: UInt32, _ b: UInt32) -> UInt32 { a &+ b }
    @inline(__always) static func mathSub(_ a: UInt32, _ b: UInt32) -> UInt32 { a &- b }
    @inline(__always) static func mathMul(_ a: UInt32, _ b: UInt32) -> UInt32 { a &* b }
    @inline(__always) static func mathDiv(_ a: UInt32, _ b: UInt32) -> UInt32 { mathIntDiv(a, b) }
    @inline(__always) static func mathFmod(_ a: UInt32, _ b: UInt32) -> UInt32 { mathIntRem(a, b) }
    @inline(__always) static func mathPow(_ a: UInt32, _ b: UInt32) -> UInt32 { mathIntPow(a, b) }
    @inline(__always) static func mathMax(_ a: UInt32, _ b: UInt32) -> UInt32 { Swift.max(a, b) }
    @inline(__always) static func mathMin(_ a: UInt32, _ b: UInt32) -> UInt32 { Swift.min(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

extension Int64: MathScalar {
    static var mathIsInteger: Bool { true }
    @inline(__always) static func mathAdd(_ a: Int64, _ b: Int64) -> Int64 { a &+ b }
    @inline(__always) static func mathSub(_ a: Int64, _ b: Int64) -> Int64 { a &- b }
    @inline(__always) static func mathMul(_ a: Int64, _ b: Int64) -> Int64 { a &* b }
    @inline(__always) static func mathDiv(_ a: Int64, _ b: Int64) -> Int64 { mathIntDiv(a, b) }
    @inline(__always) static func mathFmod(_ a: Int64, _ b: Int64) -> Int64 { mathIntRem(a, b) }
    @inline(__always) static func mathPow(_ a: Int64, _ b: Int64) -> Int64 { mathIntPow(a, b) }
    @inline(__always) static func mathMax(_ a: Int64, _ b: Int64) -> Int64 { Swift.max(a, b) }
    @inline(__always) static func mathMin(_ a: Int64, _ b: Int64) -> Int64 { Swift.min(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

extension UInt64: MathScalar {
    static var mathIsInteger: Bool { true }
    @inline(__always) static func mathAdd(_ a: UInt64, _ b: UInt64) -> UInt64 { a &+ b }
    @inline(__always) static func mathSub(_ a: UInt64, _ b: UInt64) -> UInt64 { a &- b }
    @inline(__always) static func mathMul(_ a: UInt64, _ b: UInt64) -> UInt64 { a &* b }
    @inline(__always) static func mathDiv(_ a: UInt64, _ b: UInt64) -> UInt64 { mathIntDiv(a, b) }
    @inline(__always) static func mathFmod(_ a: UInt64, _ b: UInt64) -> UInt64 { mathIntRem(a, b) }
    @inline(__always) static func mathPow(_ a: UInt64, _ b: UInt64) -> UInt64 { mathIntPow(a, b) }
    @inline(__always) static func mathMax(_ a: UInt64, _ b: UInt64) -> UInt64 { Swift.max(a, b) }
    @inline(__always) static func mathMin(_ a: UInt64, _ b: UInt64) -> UInt64 { Swift.min(a, b) }
    @inline(__always) var mathIsZero: Bool { self == 0 }
}

/// Calls `visit` with the concrete element type of a numeric dtype. Unlike opening an existential
/// metatype, the switch names each type, so the optimiser specialises the visitor's generic
/// loops per dtype.
internal protocol MathTypeVisitor {
    associatedtype Result
    func visit<T: MathScalar>(_ type: T.Type) throws -> Result
}

/// Dispatches `visitor` on `dtype`; nil for bool and string.
@inline(__always)
internal func mathDispatch<V: MathTypeVisitor>(_ dtype: DType, _ visitor: V) throws -> V.Result? {
    switch dtype {
    case .float32: return try visitor.visit(Float.self)
    case .float64: return try visitor.visit(Double.self)
    case .float16: return try visitor.visit(Float16.self)
    case .int8: return try visitor.visit(Int8.self)
    case .uint8: return try visitor.visit(UInt8.self)
    case .int16: return try visitor.visit(Int16.self)
    case .uint16: return try visitor.visit(UInt16.self)
    case .int32: return try visitor.visit(Int32.self)
    case .uint32: return try visitor.visit(UInt32.self)
    case .int64: return try visitor.visit(Int64.self)
    case .uint64: return try visitor.visit(UInt64.self)
    case .bool, .string: return nil
    }
}

/// Converts numeric elements between types through Double (integers saturate).
internal func mathConvert<S: NumericElement, D: NumericElement>(_ values: [S], to _: D.Type) -> [D] {
    if let same = values as? [D] { return same }
    return values.map { D(fromDouble: $0.doubleValue) }
}
