// The one dtype -> Swift element type switch. Each case names its concrete type, so the compiler
// specialises the body per dtype (an opened existential would run unspecialised generic code, far
// slower on the float32 hot path). Kernels, the tensor storage helpers, the NPY reader and the
// server's tensor decoding all dispatch through it.

/// A computation written once for every numeric element type; ``DType/dispatchNumeric(_:)``
/// calls it with the concrete type.
public protocol NumericDTypeBody {
    associatedtype Result
    func run<T: NumericElement>(_ type: T.Type) throws -> Result
}

/// A computation written once for every element type, bool and string included;
/// ``DType/dispatch(_:)`` calls it with the concrete type.
public protocol DTypeBody {
    associatedtype Result
    func run<T: TensorElement>(_ type: T.Type) throws -> Result
}

extension DType {
    /// Runs `body` with this dtype's numeric element type; nil for bool and string.
    public func dispatchNumeric<B: NumericDTypeBody>(_ body: B) throws -> B.Result? {
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
        case .bool, .string: return nil
        }
    }

    /// Runs `body` with this dtype's element type: bool and string here, the numeric types
    /// through ``dispatchNumeric(_:)``.
    public func dispatch<B: DTypeBody>(_ body: B) throws -> B.Result {
        switch self {
        case .bool: return try body.run(Bool.self)
        case .string: return try body.run(String.self)
        default: return try dispatchNumeric(NumericAsElementBody(body: body))!
        }
    }

    /// Calls `body` with the Swift element type of this dtype (opened as an existential: for
    /// cold paths; hot loops use ``dispatch(_:)`` so they are specialised).
    public func withElementType<R>(_ body: (any TensorElement.Type) -> R) -> R {
        withoutActuallyEscaping(body) { body in
            // The body cannot throw, so neither can the dispatch.
            try! dispatch(ExistentialElementBody(body: body))
        }
    }

    /// Like ``withElementType(_:)`` for numeric dtypes; nil for bool and string.
    public func withNumericType<R>(_ body: (any NumericElement.Type) -> R) -> R? {
        withoutActuallyEscaping(body) { body in
            try! dispatchNumeric(ExistentialNumericBody(body: body))
        }
    }
}

/// Runs a ``DTypeBody`` as a ``NumericDTypeBody`` (every numeric element is a tensor element).
private struct NumericAsElementBody<B: DTypeBody>: NumericDTypeBody {
    var body: B
    func run<T: NumericElement>(_ type: T.Type) throws -> B.Result { try body.run(type) }
}

private struct ExistentialElementBody<R>: DTypeBody {
    var body: (any TensorElement.Type) -> R
    func run<T: TensorElement>(_ type: T.Type) -> R { body(type) }
}

private struct ExistentialNumericBody<R>: NumericDTypeBody {
    var body: (any NumericElement.Type) -> R
    func run<T: NumericElement>(_ type: T.Type) -> R { body(type) }
}
