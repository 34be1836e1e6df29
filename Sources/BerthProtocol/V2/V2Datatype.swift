import BerthTensor

extension DType {
    /// The Open Inference Protocol datatype name (`FP32`, `INT64`, `BYTES` ...).
    public var v2Name: String {
        switch self {
        case .float32: return "FP32"
        case .float64: return "FP64"
        case .float16: return "FP16"
        case .int8: return "INT8"
        case .uint8: return "UINT8"
        case .int16: return "INT16"
        case .uint16: return "UINT16"
        case .int32: return "INT32"
        case .uint32: return "UINT32"
        case .int64: return "INT64"
        case .uint64: return "UINT64"
        case .bool: return "BOOL"
        case .string: return "BYTES"
        }
    }

    /// The dtype for an Open Inference Protocol datatype name; nil for unknown names (and BF16,
    /// which the engine has no storage for).
    public init?(v2Name: String) {
        switch v2Name {
        case "FP32": self = .float32
        case "FP64": self = .float64
        case "FP16": self = .float16
        case "INT8": self = .int8
        case "UINT8": self = .uint8
        case "INT16": self = .int16
        case "UINT16": self = .uint16
        case "INT32": self = .int32
        case "UINT32": self = .uint32
        case "INT64": self = .int64
        case "UINT64": self = .uint64
        case "BOOL": self = .bool
        case "BYTES": self = .string
        default: return nil
        }
    }

    /// Triton's model-configuration type name (`TYPE_FP32`, `TYPE_STRING` ...).
    public var tritonConfigName: String { self == .string ? "TYPE_STRING" : "TYPE_" + v2Name }
}
