import BerthTensor

// The one dtype -> Swift element type switch shared by the tensor and reduction kernels. Each
// case names its concrete type, so the compiler specialises the body per dtype (an opened
// existential would run unspecialised generic code, far slower on the float32 hot path).

/// A computation written once for every numeric element type; ``DType/rfNumericDispatch(_:op:)``
/// calls it with the concrete type.
protocol RFNumericBody {
    associatedtype Result
    func run<T: NumericElement>(_ type: T.Type) throws -> Result
}

/// A computation written once for every element type, bool and string included;
/// ``DType/tfDispatch(_:)`` calls it with the concrete type.
protocol TFElementBody {
    associatedtype Result
    func run<T: TensorElement>(_ type: T.Type) throws -> Result
}

extension DType {
    /// Runs `body` with this dtype's numeric element type, or throws for bool and string.
    func rfNumericDispatch<B: RFNumericBody>(_ body: B, op: String) throws -> B.Result {
        switch self {
        case .float32: return try body.run(Float.self)
        case .float64: return try body.run(Double.self)
        case .float16: return try body.run(Float16.self)
        case .int8: return try body.run(Int8.self)
        case .uint8: return try body.run(UInt8.self)
        case .int16: return try body.run(Int16.self)
        case .uint16: return try body.run(UInt16.self)
        case .int32: return try body.run(Int32.self)
        case .uint32: return try body.run(UInt32.self)
        case .int64: return try body.run(Int64.self)
        case .uint64: return try body.run(UInt64.self)
        case .bool, .string: throw KernelError("\(op) does not support dtype \(self)")
        }
    }

    /// Runs `body` with this dtype's element type: bool and string here, the numeric types
    /// through ``rfNumericDispatch(_:op:)``.
    func tfDispatch<B: TFElementBody>(_ body: B) throws -> B.Result {
        switch self {
        case .bool: return try body.run(Bool.self)
        case .string: return try body.run(String.self)
        default: return try rfNumericDispatch(NumericAsElementBody(body: body), op: "tfDispatch")
        }
    }
}

/// Runs a ``TFElementBody`` as an ``RFNumericBody`` (every numeric element is a tensor element).
private struct NumericAsElementBody<B: TFElementBody>: RFNumericBody {
    var body: B
    func run<T: NumericElement>(_ type: T.Type) throws -> B.Result { try body.run(type) }
}
