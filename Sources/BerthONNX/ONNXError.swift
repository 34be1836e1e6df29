/// Errors raised while reading, checking or writing ONNX models.
public enum ONNXError: Error, CustomStringConvertible {
    /// The bytes are not a valid ONNX protobuf.
    case malformed(String)
    /// The model's `ir_version` is outside the range Berth reads.
    case unsupportedIRVersion(Int64, supported: ClosedRange<Int64>)
    /// An opset import Berth does not support.
    case unsupportedOpset(domain: String, version: Int64)
    /// A tensor in the model could not be decoded.
    case badTensor(name: String, reason: String)
    /// An external-data reference that is missing, escapes the model folder or is too short.
    case externalData(tensor: String, reason: String)
    /// The graph is not well formed (dangling input, cycle, duplicate output).
    case invalidGraph(String)
    /// A node attribute is missing or has the wrong type.
    case attribute(node: String, name: String, reason: String)

    public var description: String {
        switch self {
        case let .malformed(why): return "not a valid ONNX model: \(why)"
        case let .unsupportedIRVersion(v, r): return "unsupported ir_version \(v) (Berth reads \(r.lowerBound)...\(r.upperBound))"
        case let .unsupportedOpset(d, v): return "unsupported opset import \(d.isEmpty ? "ai.onnx" : d) version \(v)"
        case let .badTensor(n, why): return "tensor '\(n)': \(why)"
        case let .externalData(t, why): return "external data for tensor '\(t)': \(why)"
        case let .invalidGraph(why): return "invalid graph: \(why)"
        case let .attribute(node, name, why): return "node '\(node)': attribute '\(name)': \(why)"
        }
    }
}
