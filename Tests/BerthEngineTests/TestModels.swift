import BerthONNX
import BerthTensor
import Foundation

/// Builds small ONNX models in memory for engine tests.
enum TestModels {
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var digitsModel: URL { repoRoot.appendingPathComponent("examples/digits_mlp.onnx") }

    static func valueInfo(_ name: String, _ dtype: DType, _ dims: [Dim]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = Int32(dtype.rawValue)
        t.shape.dim = dims.map { d in
            var pd = Onnx_TensorShapeProto.Dimension()
            switch d {
            case let .fixed(n): pd.dimValue = Int64(n)
            case let .symbolic(s): pd.dimParam = s
            case .unknown: break
            }
            return pd
        }
        v.type.tensorType = t
        return v
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], domain: String = "") -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.domain = domain
        n.input = inputs
        n.output = outputs
        n.name = "\(op)_\(outputs.first ?? "")"
        return n
    }

    /// A model with the given nodes, one float input X [N, 4] and one float output Y.
    static func model(nodes: [Onnx_NodeProto], extraOpsets: [String: Int64] = [:]) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.version = 17
        m.opsetImport = [o] + extraOpsets.map { d, v in
            var e = Onnx_OperatorSetIdProto()
            e.domain = d
            e.version = v
            return e
        }
        var g = Onnx_GraphProto()
        g.name = "test"
        g.node = nodes
        g.input = [valueInfo("X", .float32, [.symbolic("N"), .fixed(4)])]
        g.output = [valueInfo("Y", .float32, [.symbolic("N"), .fixed(4)])]
        m.graph = g
        return m
    }
}
