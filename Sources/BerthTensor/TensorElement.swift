/// A Swift type that can be the element of a ``Tensor``; links the type to its ``DType`` and its
/// case in ``TensorStorage``.
public protocol TensorElement: Sendable {
    /// The dtype of tensors holding this element type.
    static var dtype: DType { get }
    /// Wraps an array as storage.
    static func storage(_ values: [Self]) -> TensorStorage
    /// Unwraps storage of this type, or nil for another dtype.
    static func values(in storage: TensorStorage) -> [Self]?
    /// The element used to fill new tensors.
    static var zero: Self { get }
}

/// Element types with arithmetic, used by generic numeric kernels.
public protocol NumericElement: TensorElement, Numeric, Comparable {
    /// Conversion through Double, used by Cast and by reductions that accumulate in Double.
    init(fromDouble value: Double)
    /// The value as Double.
    var doubleValue: Double { get }
}

extension Float: NumericElement {
    public static var dtype: DType { .float32 }
    public static func storage(_ v: [Float]) -> TensorStorage { .float32(v) }
    public static func values(in s: TensorStorage) -> [Float]? { if case let .float32(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = Float(value) }
    public var doubleValue: Double { Double(self) }
}
extension Double: NumericElement {
    public static var dtype: DType { .float64 }
    public static func storage(_ v: [Double]) -> TensorStorage { .float64(v) }
    public static func values(in s: TensorStorage) -> [Double]? { if case let .float64(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = value }
    public var doubleValue: Double { self }
}
extension Float16: NumericElement {
    public static var dtype: DType { .float16 }
    public static func storage(_ v: [Float16]) -> TensorStorage { .float16(v) }
    public static func values(in s: TensorStorage) -> [Float16]? { if case let .float16(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = Float16(value) }
    public var doubleValue: Double { Double(self) }
}

/// Integer conversion from Double saturates and maps NaN to 0, so that Cast never traps.
@inline(__always) func saturatingInteger<I: FixedWidthInteger>(_ v: Double) -> I {
    if v.isNaN { return 0 }
    if v <= Double(I.min) { return I.min }
    if v >= Double(I.max) { return I.max }
    return I(v)
}

extension Int8: NumericElement {
    public static var dtype: DType { .int8 }
    public static func storage(_ v: [Int8]) -> TensorStorage { .int8(v) }
    public static func values(in s: TensorStorage) -> [Int8]? { if case let .int8(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = saturatingInteger(value) }
    public var doubleValue: Double { Double(self) }
}
extension UInt8: NumericElement {
    public static var dtype: DType { .uint8 }
    public static func storage(_ v: [UInt8]) -> TensorStorage { .uint8(v) }
    public static func values(in s: TensorStorage) -> [UInt8]? { if case let .uint8(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = saturatingInteger(value) }
    public var doubleValue: Double { Double(self) }
}
extension Int16: NumericElement {
    public static var dtype: DType { .int16 }
    public static func storage(_ v: [Int16]) -> TensorStorage { .int16(v) }
    public static func values(in s: TensorStorage) -> [Int16]? { if case let .int16(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = saturatingInteger(value) }
    public var doubleValue: Double { Double(self) }
}
extension UInt16: NumericElement {
    public static var dtype: DType { .uint16 }
    public static func storage(_ v: [UInt16]) -> TensorStorage { .uint16(v) }
    public static func values(in s: TensorStorage) -> [UInt16]? { if case let .uint16(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = saturatingInteger(value) }
    public var doubleValue: Double { Double(self) }
}
extension Int32: NumericElement {
    public static var dtype: DType { .int32 }
    public static func storage(_ v: [Int32]) -> TensorStorage { .int32(v) }
    public static func values(in s: TensorStorage) -> [Int32]? { if case let .int32(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = saturatingInteger(value) }
    public var doubleValue: Double { Double(self) }
}
extension UInt32: NumericElement {
    public static var dtype: DType { .uint32 }
    public static func storage(_ v: [UInt32]) -> TensorStorage { .uint32(v) }
    public static func values(in s: TensorStorage) -> [UInt32]? { if case let .uint32(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = saturatingInteger(value) }
    public var doubleValue: Double { Double(self) }
}
extension Int64: NumericElement {
    public static var dtype: DType { .int64 }
    public static func storage(_ v: [Int64]) -> TensorStorage { .int64(v) }
    public static func values(in s: TensorStorage) -> [Int64]? { if case let .int64(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = saturatingInteger(value) }
    public var doubleValue: Double { Double(self) }
}
extension UInt64: NumericElement {
    public static var dtype: DType { .uint64 }
    public static func storage(_ v: [UInt64]) -> TensorStorage { .uint64(v) }
    public static func values(in s: TensorStorage) -> [UInt64]? { if case let .uint64(v) = s { return v }; return nil }
    public init(fromDouble value: Double) { self = saturatingInteger(value) }
    public var doubleValue: Double { Double(self) }
}
extension Bool: TensorElement {
    public static var dtype: DType { .bool }
    public static func storage(_ v: [Bool]) -> TensorStorage { .bool(v) }
    public static func values(in s: TensorStorage) -> [Bool]? { if case let .bool(v) = s { return v }; return nil }
    public static var zero: Bool { false }
}
extension String: TensorElement {
    public static var dtype: DType { .string }
    public static func storage(_ v: [String]) -> TensorStorage { .string(v) }
    public static func values(in s: TensorStorage) -> [String]? { if case let .string(v) = s { return v }; return nil }
    public static var zero: String { "" }
}
