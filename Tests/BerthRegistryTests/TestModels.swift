import BerthONNX
import Foundation
import SwiftProtobuf

/// Builds tiny valid ONNX files (an Identity graph) for registry tests; the registry reads only
/// the graph's inputs and outputs, so the node does not matter.
enum TestModels {
    /// ONNX element types (TensorProto.DataType).
    enum ElementType: Int32 {
        case float = 1
        case int64 = 7
        case string = 8
        case double = 11
    }

    /// One dimension: a fixed size, a named (dynamic) one, or one with neither.
    enum D {
        case fixed(Int64)
        case symbolic(String)
        case unknown
    }

    struct Tensor {
        var name: String
        var type: ElementType
        var dims: [D]
        init(_ name: String, _ type: ElementType, _ dims: [D]) {
            self.name = name
            self.type = type
            self.dims = dims
        }
    }

    static func valueInfo(_ t: Tensor) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = t.name
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = t.type.rawValue
        tt.shape.dim = t.dims.map { d in
            var pd = Onnx_TensorShapeProto.Dimension()
            switch d {
            case let .fixed(n): pd.dimValue = n
            case let .symbolic(s): pd.dimParam = s
            case .unknown: break
            }
            return pd
        }
        v.type.tensorType = tt
        return v
    }

    /// A model whose graph copies its first input to each output. `producer` changes the bytes
    /// (and so the SHA-256) without changing the signature.
    static func proto(inputs: [Tensor], outputs: [Tensor], initializers: [String] = [], producer: String = "berth-tests") -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        m.producerName = producer
        var o = Onnx_OperatorSetIdProto()
        o.version = 17
        m.opsetImport = [o]
        var g = Onnx_GraphProto()
        g.name = "registry_test"
        g.node = outputs.map { out in
            var n = Onnx_NodeProto()
            n.opType = "Identity"
            n.input = [inputs.first?.name ?? ""]
            n.output = [out.name]
            n.name = "Identity_\(out.name)"
            return n
        }
        g.input = inputs.map(valueInfo)
        g.output = outputs.map(valueInfo)
        g.initializer = initializers.map { name in
            var t = Onnx_TensorProto()
            t.name = name
            t.dataType = ElementType.float.rawValue
            t.dims = [1]
            t.floatData = [0.5]
            return t
        }
        m.graph = g
        return m
    }

    /// The bytes of a model with the default signature: input `X` FP32 [N, 4], output `Y` FP32 [N, 4].
    static func bytes(producer: String = "berth-tests",
                      inputs: [Tensor] = [Tensor("X", .float, [.symbolic("N"), .fixed(4)])],
                      outputs: [Tensor] = [Tensor("Y", .float, [.symbolic("N"), .fixed(4)])],
                      initializers: [String] = []) -> Data {
        // serializedData() is deterministic for one message, so equal arguments give equal bytes.
        try! proto(inputs: inputs, outputs: outputs, initializers: initializers, producer: producer).serializedData()
    }
}
