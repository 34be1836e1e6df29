import BerthTensor
import Foundation
import SwiftProtobuf

/// A value read from a serialized `TensorProto`, `SequenceProto` or `OptionalProto` (the
/// `.pb` files of ONNX conformance tests), before the engine turns it into its own value type.
public enum DataValue: Sendable {
    case tensor(Tensor)
    /// The declared element type (nil when the file does not say) and the tensors.
    case sequence(elementType: DType?, tensors: [Tensor])
    /// An optional without an element.
    case emptyOptional
}

extension ModelReader {
    /// Reads one serialized value of the declared `kind`: a `TensorProto` for a tensor, a
    /// `SequenceProto` for a sequence, an `OptionalProto` for an optional.
    public static func readValue(_ data: Data, kind: ValueKind) throws -> DataValue {
        switch kind {
        case .tensor: return .tensor(try readTensor(data))
        case .sequence:
            let p: Onnx_SequenceProto
            do { p = try Onnx_SequenceProto(serializedBytes: data) } catch { throw ONNXError.malformed("sequence protobuf: \(error)") }
            return try convert(p)
        case .optional:
            let p: Onnx_OptionalProto
            do { p = try Onnx_OptionalProto(serializedBytes: data) } catch { throw ONNXError.malformed("optional protobuf: \(error)") }
            if p.hasTensorValue { return .tensor(try Tensor(proto: p.tensorValue, baseDirectory: nil)) }
            if p.hasSequenceValue { return try convert(p.sequenceValue) }
            return .emptyOptional
        case .other:
            throw ONNXError.malformed("values of this type (maps, sparse tensors) are not read")
        }
    }

    static func convert(_ p: Onnx_SequenceProto) throws -> DataValue {
        guard p.elemType == Onnx_SequenceProto.DataType.tensor.rawValue || p.tensorValues.count > 0 || p.elemType == 0 else {
            throw ONNXError.malformed("sequences of non-tensor values are not read (elem_type \(p.elemType))")
        }
        let tensors = try p.tensorValues.map { try Tensor(proto: $0, baseDirectory: nil) }
        return .sequence(elementType: tensors.first?.dtype, tensors: tensors)
    }
}
