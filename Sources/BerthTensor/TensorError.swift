/// Errors raised while building, converting or (de)serialising tensors.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// A shape holds a negative dimension or its element count overflows `Int`.
    case invalidShape([Int], reason: String)
    /// The number of elements does not match the shape.
    case countMismatch(shape: [Int], expected: Int, got: Int)
    /// A tensor had one dtype where another was required.
    case dtypeMismatch(expected: DType, got: DType)
    /// A dtype the operation does not handle.
    case unsupportedDType(String)
    /// A `.npy` file that could not be read or written.
    case npy(String)

    public var description: String {
        switch self {
        case let .invalidShape(shape, reason): return "invalid shape \(shape): \(reason)"
        case let .countMismatch(shape, expected, got):
            return "shape \(shape) needs \(expected) elements but \(got) were given"
        case let .dtypeMismatch(expected, got): return "expected dtype \(expected), got \(got)"
        case let .unsupportedDType(what): return "unsupported dtype: \(what)"
        case let .npy(why): return "npy: \(why)"
        }
    }
}
