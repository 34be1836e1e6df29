import BerthONNX
import BerthTensor
import Foundation

extension Onnx_TensorProto {
    /// An initializer holding `tensor` (little-endian raw data; strings as string_data).
    static func make(_ name: String, _ tensor: Tensor) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = Int32(tensor.dtype.rawValue)
        t.dims = tensor.shape.map(Int64.init)
        func raw<T>(_ v: [T]) -> Data { v.withUnsafeBufferPointer { Data(buffer: $0) } }
        switch tensor.storage {
        case let .float32(v): t.rawData = raw(v)
        case let .float64(v): t.rawData = raw(v)
        case let .float16(v): t.rawData = raw(v)
        case let .int8(v): t.rawData = raw(v)
        case let .uint8(v): t.rawData = raw(v)
        case let .int16(v): t.rawData = raw(v)
        case let .uint16(v): t.rawData = raw(v)
        case let .int32(v): t.rawData = raw(v)
        case let .uint32(v): t.rawData = raw(v)
        case let .int64(v): t.rawData = raw(v)
        case let .uint64(v): t.rawData = raw(v)
        case let .bool(v): t.rawData = raw(v.map { $0 ? UInt8(1) : UInt8(0) })
        case let .string(v): t.stringData = v.map { Data($0.utf8) }
        }
        return t
    }
}
