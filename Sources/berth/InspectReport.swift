import BerthONNX

/// What `berth inspect --json` prints: a model file's metadata, operators and size.
struct InspectReport: Encodable {
    /// A graph input or output.
    struct Value: Encodable {
        /// A fixed size prints as a number; a symbolic or unknown one as its name (`batch`, `?`).
        enum Dimension: Encodable {
            case size(Int)
            case name(String)

            init(_ d: Dim) { self = d.value.map(Dimension.size) ?? .name(d.description) }

            func encode(to encoder: Encoder) throws {
                var c = encoder.singleValueContainer()
                switch self {
                case let .size(n): try c.encode(n)
                case let .name(s): try c.encode(s)
                }
            }
        }

        var name: String
        /// The ONNX element type (`float`, `int64` …), `unknown` when undeclared.
        var dtype: String
        /// Empty for an unknown rank.
        var shape: [Dimension]

        init(_ v: ValueInfo) {
            name = v.name
            dtype = v.dtype?.onnxName ?? "unknown"
            shape = (v.shape ?? []).map(Dimension.init)
        }
    }

    var irVersion: Int64
    /// Producer name and version.
    var producer: String
    /// Domain (`ai.onnx` for the default one) → opset version.
    var opsets: [String: Int]
    var inputs: [Value]
    var outputs: [Value]
    /// `domain::op` (no prefix for the default domain) → node count.
    var operators: [String: Int]
    var nodes: Int
    /// Elements in the initializers.
    var parameters: Int
    var fileBytes: Int
    /// `domain::op` of the nodes Berth has no kernel for, sorted.
    var unsupportedOperators: [String]

    enum CodingKeys: String, CodingKey {
        case producer, opsets, inputs, outputs, operators, nodes, parameters
        case irVersion = "ir_version"
        case fileBytes = "file_bytes"
        case unsupportedOperators = "unsupported_operators"
    }
}
