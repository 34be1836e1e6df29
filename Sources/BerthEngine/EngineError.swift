import BerthONNX
import BerthTensor

/// One operator the engine cannot run: domain, op type and the opset the model asks for.
public struct UnsupportedOp: Sendable, Hashable, CustomStringConvertible {
    public var domain: String
    public var opType: String
    public var opset: Int
    public var description: String { "\(domain)::\(opType) (opset \(opset))" }
}

/// Errors from loading or running a model in a ``Session``.
public enum EngineError: Error, CustomStringConvertible {
    /// The model imports an opset of a domain newer than Berth implements.
    case unsupportedOpset(domain: String, version: Int, newest: Int)
    /// The model uses operators with no kernel; lists every one so the user sees them all at once.
    case unsupportedOperators([UnsupportedOp])
    /// A feed names no graph input.
    case unknownInput(name: String, expected: [String])
    /// A required graph input was not fed.
    case missingInput(name: String)
    /// A feed has the wrong element type.
    case inputDType(name: String, expected: DType, got: DType)
    /// A feed's shape does not match the declared shape.
    case inputShape(name: String, expected: [Dim], got: [Int])
    /// A kernel rejected its inputs or attributes at run time or plan time.
    case kernel(node: String, op: String, message: String)
    /// The graph cannot be executed (a value nobody produces, a cycle).
    case invalidGraph(String)
    /// Reading the model failed.
    case load(String)
    /// A random input cannot be made from the input's declared shape.
    case sampleInput(name: String, reason: String)
    /// A fed or returned value is not of the kind expected: a sequence or empty optional where
    /// ``Session/run(_:)`` deals in tensors, or a feed whose kind differs from its declaration.
    case valueKind(name: String, message: String)

    public var description: String {
        switch self {
        case let .unsupportedOpset(domain, version, newest):
            return "model imports \(domain) opset \(version); Berth supports \(domain) up to opset \(newest)"
        case let .unsupportedOperators(ops):
            return "model uses \(ops.count) unsupported operator(s): " + ops.map(\.description).joined(separator: ", ")
        case let .unknownInput(name, expected):
            return "unknown input '\(name)'; the model's inputs are \(expected.joined(separator: ", "))"
        case let .missingInput(name): return "missing input '\(name)'"
        case let .inputDType(name, expected, got): return "input '\(name)': expected dtype \(expected), got \(got)"
        case let .inputShape(name, expected, got):
            return "input '\(name)': expected shape [\(expected.map(\.description).joined(separator: ", "))], got \(got)"
        case let .kernel(node, op, message): return "node '\(node)' (\(op)): \(message)"
        case let .invalidGraph(why): return "invalid graph: \(why)"
        case let .load(why): return "cannot load model: \(why)"
        case let .sampleInput(name, why): return "cannot make a random input '\(name)': \(why)"
        case let .valueKind(name, message): return "value '\(name)': \(message)"
        }
    }
}

/// What a kernel throws; the session adds the node name and op type.
public struct KernelError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
