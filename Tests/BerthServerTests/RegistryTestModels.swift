import BerthONNX
import Foundation
import SwiftProtobuf

/// Tiny ONNX models for the registry serving tests (the other test targets' builders cannot be
/// imported): `Y = X + c` with `X` FP32 [N, 4] and `Y` FP32 [N, 4]. Every `c` gives the same
/// signature but different outputs (and different bytes, so a different SHA-256).
enum RegistryTestModels {
    static func valueInfo(_ name: String) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = 1  // FLOAT
        var n = Onnx_TensorShapeProto.Dimension()
        n.dimParam = "N"
        var four = Onnx_TensorShapeProto.Dimension()
        four.dimValue = 4
        t.shape.dim = [n, four]
        v.type.tensorType = t
        return v
    }

    /// The serialized model computing `X + offset`.
    static func adder(offset: Float, producer: String = "berth-server-tests") -> Data {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        m.producerName = producer
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 17
        m.opsetImport = [opset]
        var g = Onnx_GraphProto()
        g.name = "adder"
        var c = Onnx_TensorProto()
        c.name = "C"
        c.dataType = 1
        c.dims = [4]
        c.floatData = [offset, offset, offset, offset]
        g.initializer = [c]
        var node = Onnx_NodeProto()
        node.opType = "Add"
        node.input = ["X", "C"]
        node.output = ["Y"]
        node.name = "Add_Y"
        g.node = [node]
        g.input = [valueInfo("X")]
        g.output = [valueInfo("Y")]
        m.graph = g
        return try! m.serializedData()
    }
}
