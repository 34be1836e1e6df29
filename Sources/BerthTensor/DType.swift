/// The element type of a tensor. Raw values are ONNX `TensorProto.DataType` numbers so that
/// loaders and writers can convert without a lookup table.
public enum DType: Int, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case float16 = 10
    case float64 = 11
    case uint32 = 12
    case uint64 = 13

    /// Bytes per element in dense storage (strings have no fixed size and report 0).
    public var byteSize: Int {
        switch self {
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        case .float16, .int16, .uint16: return 2
        case .int8, .uint8, .bool: return 1
        case .string: return 0
        }
    }

    /// True for float32, float64 and float16.
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 || self == .float16 }

    /// The lowercase ONNX-style name (`float`, `int64`, ...), as ONNX Runtime prints it.
    public var description: String { onnxName }

    /// The name ONNX uses in `tensor(<name>)` type strings.
    public var onnxName: String {
        switch self {
        case .float32: return "float"
        case .float64: return "double"
        case .float16: return "float16"
        case .int8: return "int8"
        case .uint8: return "uint8"
        case .int16: return "int16"
        case .uint16: return "uint16"
        case .int32: return "int32"
        case .uint32: return "uint32"
        case .int64: return "int64"
        case .uint64: return "uint64"
        case .bool: return "bool"
        case .string: return "string"
        }
    }

    /// The NumPy dtype descriptor used in `.npy` headers (little endian).
    public var numpyDescr: String {
        switch self {
        case .float32: return "<f4"
        case .float64: return "<f8"
        case .float16: return "<f2"
        case .int8: return "|i1"
        case .uint8: return "|u1"
        case .int16: return "<i2"
        case .uint16: return "<u2"
        case .int32: return "<i4"
        case .uint32: return "<u4"
        case .int64: return "<i8"
        case .uint64: return "<u8"
        case .bool: return "|b1"
        case .string: return "|O"
        }
    }
}
