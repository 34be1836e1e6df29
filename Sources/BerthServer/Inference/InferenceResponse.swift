import BerthTensor
import HTTPTypes
import Hummingbird

/// Encodes an Open Inference Protocol response: the JSON object and, for outputs sent as binary
/// (Triton's extension), their raw little-endian bytes after it in output order, with the JSON
/// length in `Inference-Header-Content-Length`.
struct InferenceResponse {
    /// One output to send.
    struct Output {
        var name: String
        var tensor: Tensor
        var binary: Bool
    }

    var modelName: String
    var modelVersion: String
    var id: String?
    var outputs: [Output]

    /// Picks and orders outputs: the requested ones (binary when asked per output, else when the
    /// request set `binary_data_output`), or all in model order.
    init(request: InferenceRequest, servable: Servable, results: [String: Tensor]) {
        modelName = servable.model
        modelVersion = servable.versionString
        id = request.id
        if let requested = request.outputs {
            outputs = requested.compactMap { r in
                results[r.name].map { Output(name: r.name, tensor: $0, binary: r.binary ?? request.binaryDataOutput) }
            }
        } else {
            outputs = servable.session.outputs.compactMap { info in
                results[info.name].map { Output(name: info.name, tensor: $0, binary: request.binaryDataOutput) }
            }
        }
    }

    /// The header field carrying the JSON length of a binary response.
    static let headerLengthField = HTTPField.Name("Inference-Header-Content-Length")!

    /// The HTTP response.
    func response() -> Response {
        let (body, jsonLength) = encode()
        var headers = HTTPFields()
        if let jsonLength {
            headers[.contentType] = "application/octet-stream"
            headers[Self.headerLengthField] = String(jsonLength)
        } else {
            headers[.contentType] = "application/json"
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// The body, and the JSON part's length when binary outputs follow it.
    func encode() -> (ByteBuffer, jsonLength: Int?) {
        var estimate = 128
        for o in outputs { estimate += o.binary ? 96 : 64 + o.tensor.count * 12 }
        var w = JSONWriter(capacity: estimate)
        w.raw("{\"model_name\":")
        w.string(modelName)
        w.raw(",\"model_version\":")
        w.string(modelVersion)
        if let id {
            w.raw(",\"id\":")
            w.string(id)
        }
        w.raw(",\"outputs\":[")
        var binaryParts: [Int] = []
        for (i, o) in outputs.enumerated() {
            if i > 0 { w.byte(0x2C) }
            w.raw("{\"name\":")
            w.string(o.name)
            w.raw(",\"datatype\":")
            w.string(o.tensor.dtype.v2Name)
            w.raw(",\"shape\":[")
            for (j, d) in o.tensor.shape.enumerated() {
                if j > 0 { w.byte(0x2C) }
                w.int(d)
            }
            w.byte(0x5D)
            if o.binary {
                let size = Self.binarySize(o.tensor.storage)
                binaryParts.append(i)
                w.raw(",\"parameters\":{\"binary_data_size\":")
                w.int(size)
                w.byte(0x7D)
            } else {
                w.raw(",\"data\":")
                w.data(o.tensor.storage)
            }
            w.byte(0x7D)
        }
        w.raw("]}")
        if binaryParts.isEmpty { return (w.buffer, nil) }
        let jsonLength = w.buffer.readableBytes
        for i in binaryParts { Self.writeBinary(outputs[i].tensor.storage, to: &w.buffer) }
        return (w.buffer, jsonLength)
    }

    /// Bytes of a tensor in the binary extension's layout.
    static func binarySize(_ s: TensorStorage) -> Int {
        if case let .string(v) = s { return v.reduce(0) { $0 + 4 + $1.utf8.count } }
        return s.count * s.dtype.byteSize
    }

    static func writeBinary(_ s: TensorStorage, to buffer: inout ByteBuffer) {
        func raw<T>(_ v: [T]) { v.withUnsafeBytes { _ = buffer.writeBytes($0) } }
        switch s {
        case let .float32(v): raw(v)
        case let .float64(v): raw(v)
        case let .float16(v): raw(v)
        case let .int8(v): raw(v)
        case let .uint8(v): raw(v)
        case let .int16(v): raw(v)
        case let .uint16(v): raw(v)
        case let .int32(v): raw(v)
        case let .uint32(v): raw(v)
        case let .int64(v): raw(v)
        case let .uint64(v): raw(v)
        case let .bool(v): for b in v { buffer.writeInteger(b ? 1 : 0 as UInt8) }
        case let .string(v):
            for str in v {
                buffer.writeInteger(UInt32(str.utf8.count), endianness: .little)
                buffer.writeString(str)
            }
        }
    }
}
