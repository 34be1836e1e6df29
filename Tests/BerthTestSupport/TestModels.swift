import BerthONNX
import BerthTensor
import Foundation
import SwiftProtobuf

/// The one builder of small ONNX models for every test target: value infos, nodes, initializers
/// and whole models, in memory or serialized.
public enum TestModels {
    /// The repository's root folder.
    public static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The bundled scikit-learn MLP (`examples/digits_mlp.onnx`).
    public static var digitsModel: URL { repoRoot.appendingPathComponent("examples/digits_mlp.onnx") }

    /// A declared graph input or output.
    public struct Tensor: Sendable {
        public var name: String
        public var type: DType
        public var dims: [Dim]
        public init(_ name: String, _ type: DType, _ dims: [Dim]) {
            self.name = name
            self.type = type
            self.dims = dims
        }
    }

    /// A value info of `dtype` with `dims` (fixed, named or unknown dimensions).
    public static func valueInfo(_ name: String, _ dtype: DType, _ dims: [Dim]) -> Onnx_ValueInfoProto {
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

    /// ``valueInfo(_:_:_:)`` of a declared tensor.
    public static func valueInfo(_ t: Tensor) -> Onnx_ValueInfoProto { valueInfo(t.name, t.type, t.dims) }

    /// A node named after its op and first output.
    public static func node(_ op: String, _ inputs: [String], _ outputs: [String], domain: String = "") -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.domain = domain
        n.input = inputs
        n.output = outputs
        n.name = "\(op)_\(outputs.first ?? "")"
        return n
    }

    /// An integer attribute (`axis`, `transB`, `hidden_size`, ...).
    public static func intAttribute(_ name: String, _ value: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = value
        return a
    }

    /// A float initializer.
    public static func initializer(_ name: String, dims: [Int64], floats: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = Int32(DType.float32.rawValue)
        t.dims = dims
        t.floatData = floats
        return t
    }

    /// A model of `nodes` over declared inputs and outputs (ai.onnx opset 17 plus `extraOpsets`).
    /// `producer` changes the bytes (and so the SHA-256) without changing the signature.
    public static func model(nodes: [Onnx_NodeProto], inputs: [Tensor], outputs: [Tensor],
                             initializers: [Onnx_TensorProto] = [], extraOpsets: [String: Int64] = [:],
                             producer: String = "berth-tests", name: String = "test") -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        m.producerName = producer
        var o = Onnx_OperatorSetIdProto()
        o.version = 17
        m.opsetImport = [o] + extraOpsets.sorted { $0.key < $1.key }.map { d, v in
            var e = Onnx_OperatorSetIdProto()
            e.domain = d
            e.version = v
            return e
        }
        var g = Onnx_GraphProto()
        g.name = name
        g.node = nodes
        g.input = inputs.map(valueInfo)
        g.output = outputs.map(valueInfo)
        g.initializer = initializers
        m.graph = g
        return m
    }

    /// `X` FP32 [N, 4], the input of the small test models.
    public static let x = Tensor("X", .float32, [.symbolic("N"), .fixed(4)])
    /// `Y` FP32 [N, 4], their output.
    public static let y = Tensor("Y", .float32, [.symbolic("N"), .fixed(4)])

    /// A model with the given nodes, one float input X [N, 4] and one float output Y.
    public static func model(nodes: [Onnx_NodeProto], extraOpsets: [String: Int64] = [:]) -> Onnx_ModelProto {
        model(nodes: nodes, inputs: [x], outputs: [y], extraOpsets: extraOpsets)
    }

    /// A model whose graph copies its first input to each output (for tests that read only the
    /// signature); each initializer is a float [1].
    public static func proto(inputs: [Tensor], outputs: [Tensor], initializers: [String] = [],
                             producer: String = "berth-tests") -> Onnx_ModelProto {
        model(nodes: outputs.map { node("Identity", [inputs.first?.name ?? ""], [$0.name]) }, inputs: inputs, outputs: outputs,
              initializers: initializers.map { initializer($0, dims: [1], floats: [0.5]) }, producer: producer, name: "registry_test")
    }

    /// The bytes of ``proto(inputs:outputs:initializers:producer:)``, by default X → Y.
    public static func bytes(producer: String = "berth-tests", inputs: [Tensor] = [x], outputs: [Tensor] = [y],
                             initializers: [String] = []) -> Data {
        // serializedData() is deterministic for one message, so equal arguments give equal bytes.
        try! proto(inputs: inputs, outputs: outputs, initializers: initializers, producer: producer).serializedData()
    }

    /// The bytes of `Y = X + offset` (X, Y FP32 [N, 4]): every offset has the same signature but
    /// different outputs and bytes.
    public static func adder(offset: Float, producer: String = "berth-server-tests") -> Data {
        let m = model(nodes: [node("Add", ["X", "C"], ["Y"])], inputs: [x], outputs: [y],
                      initializers: [initializer("C", dims: [4], floats: [offset, offset, offset, offset])],
                      producer: producer, name: "adder")
        return try! m.serializedData()
    }
}
