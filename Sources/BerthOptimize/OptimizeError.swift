/// Why a model could not be compressed. Every case names what was asked and what was found.
public enum OptimizeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input is not a model the tool can rewrite.
    case invalidModel(String)
    /// Nothing in the model is of a kind the command rewrites.
    case nothingToDo(String)
    /// Bad arguments.
    case badInput(String)
    /// The output could not be written.
    case io(String)

    public var description: String {
        switch self {
        case let .invalidModel(why): return "cannot rewrite the model: \(why)"
        case let .nothingToDo(why): return why
        case let .badInput(why): return why
        case let .io(why): return why
        }
    }
}
