/// Why a gate could not be made: a malformed expression or threshold, or an unknown metric.
public enum GateError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The expression (as written) and what is wrong with it.
    case invalid(expression: String, reason: String)

    public var description: String {
        switch self {
        case let .invalid(expression, reason): return "gate '\(expression)': \(reason)"
        }
    }
}
