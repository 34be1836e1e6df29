import BerthONNX
import BerthTensor
import Foundation

// Cast and CastLike between every Berth dtype.
//
// Numeric conversions go through the widest type of the source's kind (Double for floats,
// Int64 or UInt64 for integers), which holds every source value exactly, so each conversion
// rounds once. Integer to integer wraps (C and NumPy semantics); float to integer truncates
// toward zero and saturates (NaN gives 0), where the spec leaves out-of-range values undefined.

/// How a numeric element converts: as a float, a signed or an unsigned integer.
enum ElementwiseCastKind { case float, signed, unsigned }

/// Numeric element types with exact widening and single-rounding narrowing.
protocol ElementwiseCastElement: NumericElement, BitwiseCopyable {
    static var castKind: ElementwiseCastKind { get }
    /// The value as Double; exact for float sources.
    var castDouble: Double { get }
    /// The value as Int64; exact for signed integer sources.
    var castInt64: Int64 { get }
    /// The value as UInt64; exact for unsigned integer sources.
    var castUInt64: UInt64 { get }
    init(castDouble: Double)
    init(castInt64: Int64)
    init(castUInt64: UInt64)
}

extension ElementwiseCastElement where Self: BinaryFloatingPoint {
    static var castKind: ElementwiseCastKind { .float }
    var castInt64: Int64 { Int64(castSaturating: castDouble) }
    var castUInt64: UInt64 { UInt64(castSaturating: castDouble) }
    init(castInt64 v: Int64) { self.init(v) }
    init(castUInt64 v: UInt64) { self.init(v) }
}

extension FixedWidthInteger {
    /// Truncation toward zero with saturation; NaN gives 0. Never traps.
    @inline(__always) init(castSaturating v: Double) {
        if v.isNaN { self = 0 } else if v <= Double(Self.min) { self = Self.min } else if v >= Double(Self.max) { self = Self.max } else { self.init(v) }
    }
}

extension ElementwiseCastElement where Self: FixedWidthInteger {
    static var castKind: ElementwiseCastKind { Self.isSigned ? .signed : .unsigned }
    var castDouble: Double { Double(self) }
    var castInt64: Int64 { Int64(truncatingIfNeeded: self) }
    var castUInt64: UInt64 { UInt64(truncatingIfNeeded: self) }
    init(castDouble v: Double) { self.init(castSaturating: v) }
    init(castInt64 v: Int64) { self.init(truncatingIfNeeded: v) }
    init(castUInt64 v: UInt64) { self.init(truncatingIfNeeded: v) }
}

extension Float: ElementwiseCastElement {
    var castDouble: Double { Double(self) }
    init(castDouble v: Double) { self.init(v) }
}
extension Double: ElementwiseCastElement {
    var castDouble: Double { self }
    init(castDouble v: Double) { self = v }
}
extension Float16: ElementwiseCastElement {
    var castDouble: Double { Double(self) }
    init(castDouble v: Double) { self.init(v) }
}
extension Int8: ElementwiseCastElement {}
extension UInt8: ElementwiseCastElement {}
extension Int16: ElementwiseCastElement {}
extension UInt16: ElementwiseCastElement {}
extension Int32: ElementwiseCastElement {}
extension UInt32: ElementwiseCastElement {}
extension Int64: ElementwiseCastElement {}
extension UInt64: ElementwiseCastElement {}

/// Converts numeric `src` to `D`.
private func castNumeric<S: ElementwiseCastElement, D: ElementwiseCastElement>(_ src: [S], _: D.Type, _ pool: ThreadPool) -> [D] {
    switch S.castKind {
    case .float: return elementwiseMap(src, pool, minChunk: elementwiseMinChunk) { D(castDouble: $0.castDouble) }
    case .signed: return elementwiseMap(src, pool, minChunk: elementwiseMinChunk) { D(castInt64: $0.castInt64) }
    case .unsigned: return elementwiseMap(src, pool, minChunk: elementwiseMinChunk) { D(castUInt64: $0.castUInt64) }
    }
}

/// Casts numeric `src` to `to`.
private func castFrom<S: ElementwiseCastElement>(_ src: [S], to: DType, _ pool: ThreadPool) throws -> TensorStorage {
    switch to {
    case .float32: return .float32(castNumeric(src, Float.self, pool))
    case .float64: return .float64(castNumeric(src, Double.self, pool))
    case .float16: return .float16(castNumeric(src, Float16.self, pool))
    case .int8: return .int8(castNumeric(src, Int8.self, pool))
    case .uint8: return .uint8(castNumeric(src, UInt8.self, pool))
    case .int16: return .int16(castNumeric(src, Int16.self, pool))
    case .uint16: return .uint16(castNumeric(src, UInt16.self, pool))
    case .int32: return .int32(castNumeric(src, Int32.self, pool))
    case .uint32: return .uint32(castNumeric(src, UInt32.self, pool))
    case .int64: return .int64(castNumeric(src, Int64.self, pool))
    case .uint64: return .uint64(castNumeric(src, UInt64.self, pool))
    // NaN is nonzero, so it casts to true (as in C and NumPy).
    case .bool: return .bool(elementwiseMap(src, pool, minChunk: elementwiseMinChunk) { $0 != .zero })
    case .string: return .string(src.map { castFormat($0) })
    }
}

/// Casts bools to `to`: false is 0, true is 1.
private func castFromBool(_ src: [Bool], to: DType, _ pool: ThreadPool) throws -> TensorStorage {
    func num<D: ElementwiseCastElement>(_: D.Type) -> [D] {
        let zero = D(castInt64: 0), one = D(castInt64: 1)
        return elementwiseMap(src, pool, minChunk: elementwiseMinChunk) { $0 ? one : zero }
    }
    switch to {
    case .float32: return .float32(num(Float.self))
    case .float64: return .float64(num(Double.self))
    case .float16: return .float16(num(Float16.self))
    case .int8: return .int8(num(Int8.self))
    case .uint8: return .uint8(num(UInt8.self))
    case .int16: return .int16(num(Int16.self))
    case .uint16: return .uint16(num(UInt16.self))
    case .int32: return .int32(num(Int32.self))
    case .uint32: return .uint32(num(UInt32.self))
    case .int64: return .int64(num(Int64.self))
    case .uint64: return .uint64(num(UInt64.self))
    case .bool: return .bool(src)
    case .string: return .string(src.map { $0 ? "True" : "False" })
    }
}

/// Casts strings to `to`. Floats accept plain and scientific notation and, case-insensitively,
/// "INF", "+INF", "-INF" and "NaN"; integers parse exactly when written as integers and truncate
/// otherwise ("100.5" gives 100); bools accept "true"/"false" or a number.
private func castFromString(_ src: [String], to: DType) throws -> TensorStorage {
    func parseDouble(_ s: String) throws -> Double {
        let t = s.trimmingCharacters(in: .whitespaces)
        if let v = Double(t) { return v }
        throw KernelError("Cast cannot convert the string \"\(s)\" to \(to)")
    }
    func num<D: ElementwiseCastElement>(_: D.Type) throws -> [D] {
        try src.map { s in
            if D.castKind != .float {
                let t = s.trimmingCharacters(in: .whitespaces)
                if let i = Int64(t) { return D(castInt64: i) }
                if let u = UInt64(t) { return D(castUInt64: u) }
            }
            return D(castDouble: try parseDouble(s))
        }
    }
    switch to {
    // Parsed directly as Float so there is a single rounding.
    case .float32: return .float32(try src.map { s in
        guard let v = Float(s.trimmingCharacters(in: .whitespaces)) else { return Float(try parseDouble(s)) }
        return v
    })
    case .float64: return .float64(try num(Double.self))
    case .float16: return .float16(try num(Float16.self))
    case .int8: return .int8(try num(Int8.self))
    case .uint8: return .uint8(try num(UInt8.self))
    case .int16: return .int16(try num(Int16.self))
    case .uint16: return .uint16(try num(UInt16.self))
    case .int32: return .int32(try num(Int32.self))
    case .uint32: return .uint32(try num(UInt32.self))
    case .int64: return .int64(try num(Int64.self))
    case .uint64: return .uint64(try num(UInt64.self))
    case .bool:
        return .bool(try src.map { s in
            switch s.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true": return true
            case "false": return false
            default: return try parseDouble(s) != 0
            }
        })
    case .string: return .string(src)
    }
}

/// Formats a number as a string the way NumPy's `str` does: integers in decimal; floats with the
/// shortest digits that round-trip in their own precision, positional for 1e-4 <= |x| < 10^k
/// (k = 3, 6, 16 for float16, float32, float64) and scientific (`1e-05`, `1.5e+20`) otherwise.
func castFormat<S: ElementwiseCastElement>(_ x: S) -> String {
    switch S.castKind {
    case .signed: return String(x.castInt64)
    case .unsigned: return String(x.castUInt64)
    case .float: break
    }
    let d = x.castDouble
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
    let description: String
    let upper: Double
    switch S.dtype {
    case .float16: description = String(describing: Float16(d)); upper = 1e3
    case .float32: description = String(describing: Float(d)); upper = 1e6
    default: description = String(describing: d); upper = 1e16
    }
    // Swift's description has the shortest round-trip digits; only the layout differs.
    var text = Substring(description)
    let negative = text.hasPrefix("-")
    if negative { text = text.dropFirst() }
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exponent = Int(text[text.index(after: e)...]) ?? 0
        text = text[..<e]
    }
    let integerPart = text.firstIndex(of: ".").map { text[..<$0] } ?? text
    var digits = Array(text.filter { $0 != "." })
    var point = integerPart.count + exponent  // value = 0.<digits> * 10^point
    while digits.first == "0" { digits.removeFirst(); point -= 1 }
    while digits.last == "0" { digits.removeLast() }
    if digits.isEmpty { return negative ? "-0.0" : "0.0" }
    let sign = negative ? "-" : ""
    let magnitude = Swift.abs(d)
    if magnitude >= 1e-4 && magnitude < upper {
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + String(digits) }
        if point >= digits.count { return sign + String(digits) + String(repeating: "0", count: point - digits.count) + ".0" }
        return sign + String(digits[..<point]) + "." + String(digits[point...])
    }
    let e = point - 1
    let mantissa = digits.count > 1 ? String(digits[0]) + "." + String(digits[1...]) : String(digits[0])
    let expText = String(Swift.abs(e))
    return sign + mantissa + "e" + (e < 0 ? "-" : "+") + (expText.count < 2 ? "0" + expText : expText)
}

/// Converts `x` to `to` following ONNX Cast.
func elementwiseCast(_ x: Tensor, to: DType, _ pool: ThreadPool) throws -> Tensor {
    if x.dtype == to { return x }
    let out: TensorStorage
    switch x.storage {
    // Hot pairs spelled out so they are specialised even without whole-module optimisation.
    case let .float32(v) where to == .float16:
        out = .float16(elementwiseMap(v, pool, minChunk: elementwiseMinChunk) { Float16($0) })
    case let .float16(v) where to == .float32:
        out = .float32(elementwiseMap(v, pool, minChunk: elementwiseMinChunk) { Float($0) })
    case let .int64(v) where to == .float32:
        out = .float32(elementwiseMap(v, pool, minChunk: elementwiseMinChunk) { Float($0) })
    case let .float32(v): out = try castFrom(v, to: to, pool)
    case let .float64(v): out = try castFrom(v, to: to, pool)
    case let .float16(v): out = try castFrom(v, to: to, pool)
    case let .int8(v): out = try castFrom(v, to: to, pool)
    case let .uint8(v): out = try castFrom(v, to: to, pool)
    case let .int16(v): out = try castFrom(v, to: to, pool)
    case let .uint16(v): out = try castFrom(v, to: to, pool)
    case let .int32(v): out = try castFrom(v, to: to, pool)
    case let .uint32(v): out = try castFrom(v, to: to, pool)
    case let .int64(v): out = try castFrom(v, to: to, pool)
    case let .uint64(v): out = try castFrom(v, to: to, pool)
    case let .bool(v): out = try castFromBool(v, to: to, pool)
    case let .string(v): out = try castFromString(v, to: to)
    }
    return Tensor(unchecked: x.shape, storage: out)
}

/// The ONNX type names opset 1-5 used for Cast's string-valued `to`.
private func castDTypeNamed(_ name: String) -> DType? {
    switch name.uppercased() {
    case "FLOAT": return .float32
    case "DOUBLE": return .float64
    case "FLOAT16": return .float16
    case "INT8": return .int8
    case "UINT8": return .uint8
    case "INT16": return .int16
    case "UINT16": return .uint16
    case "INT32": return .int32
    case "UINT32": return .uint32
    case "INT64": return .int64
    case "UINT64": return .uint64
    case "BOOL": return .bool
    case "STRING": return .string
    default: return nil
    }
}

extension KernelRegistry {
    /// Registers Cast (`to` as a dtype number, or as a type name in opsets 1-5) and CastLike.
    mutating func registerElementwiseCast() {
        register("Cast") { node, _ in
            let to: DType
            if case let .string(name)? = node.attributes["to"] {
                guard let d = castDTypeNamed(name) else { throw KernelError("Cast to \(name) is not supported") }
                to = d
            } else {
                let code = try node.int("to")
                guard let d = DType(rawValue: code) else {
                    throw KernelError("Cast to ONNX data type \(code) is not supported (Berth has no bfloat16, float8, complex or 4-bit types)")
                }
                to = d
            }
            return { inputs, ctx in [try elementwiseCast(try inputs.required(0), to: to, ctx.pool)] }
        }
        register("CastLike", opsets: 15...Int.max) { _, _ in
            { inputs, ctx in [try elementwiseCast(try inputs.required(0), to: try inputs.required(1).dtype, ctx.pool)] }
        }
    }
}
