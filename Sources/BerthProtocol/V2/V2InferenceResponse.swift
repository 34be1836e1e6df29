import BerthTensor
import NIOCore

/// An Open Inference Protocol inference response: the model, the version that answered, the
/// request id and the outputs, each sent as JSON `data` or as binary bytes after the JSON.
public struct V2InferenceResponse: Sendable {
    /// One output to send.
    public struct Output: Sendable {
        /// The output's name.
        public var name: String
        /// Its value.
        public var tensor: Tensor
        /// Whether it is sent in Triton's binary extension.
        public var binary: Bool

        /// An output from its parts.
        public init(name: String, tensor: Tensor, binary: Bool) {
            self.name = name
            self.tensor = tensor
            self.binary = binary
        }
    }

    /// The model's name.
    public var modelName: String
    /// The version that answered.
    public var modelVersion: String
    /// The request's id, echoed.
    public var id: String?
    /// The outputs in answer order.
    public var outputs: [Output]

    /// A response from its parts.
    public init(modelName: String, modelVersion: String, id: String?, outputs: [Output]) {
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.id = id
        self.outputs = outputs
    }

    /// Picks and orders outputs: the requested ones (binary when asked per output, else when the
    /// request set `binary_data_output`), or all in model order (`outputOrder`).
    public init(request: V2InferenceRequest, modelName: String, modelVersion: String, outputOrder: [String],
                results: [String: Tensor]) {
        self.modelName = modelName
        self.modelVersion = modelVersion
        id = request.id
        if let requested = request.outputs {
            outputs = requested.compactMap { r in
                results[r.name].map { Output(name: r.name, tensor: $0, binary: r.binary ?? request.binaryDataOutput) }
            }
        } else {
            outputs = outputOrder.compactMap { name in
                results[name].map { Output(name: name, tensor: $0, binary: request.binaryDataOutput) }
            }
        }
    }

    /// The body, and the JSON part's length when binary outputs follow it (the value of the
    /// `Inference-Header-Content-Length` header).
    public func encode() -> (body: ByteBuffer, jsonLength: Int?) {
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
        w.raw(",\"outputs\":")
        let binaryParts = w.tensors(outputs.map { ($0.name, $0.tensor, $0.binary) })
        w.byte(0x7D)
        if binaryParts.isEmpty { return (w.buffer, nil) }
        let jsonLength = w.buffer.readableBytes
        for t in binaryParts { BinaryTensorCodec.write(t.storage, to: &w.buffer) }
        return (w.buffer, jsonLength)
    }
}

extension JSONWriter {
    /// `[{"name":..,"datatype":..,"shape":[..],"data":[..]}, ...]`; a binary tensor gets
    /// `"parameters":{"binary_data_size":N}` instead of `data` and is returned, in order, for the
    /// caller to append after the JSON.
    mutating func tensors(_ items: [(name: String, tensor: Tensor, binary: Bool)]) -> [Tensor] {
        var binaryParts: [Tensor] = []
        array(items) { w, item in
            w.raw("{\"name\":")
            w.string(item.name)
            w.raw(",\"datatype\":")
            w.string(item.tensor.dtype.v2Name)
            w.raw(",\"shape\":")
            w.array(item.tensor.shape)
            if item.binary {
                binaryParts.append(item.tensor)
                w.raw(",\"parameters\":{\"binary_data_size\":")
                w.int(BinaryTensorCodec.byteCount(item.tensor.storage))
                w.byte(0x7D)
            } else {
                w.raw(",\"data\":")
                w.data(item.tensor.storage)
            }
            w.byte(0x7D)
        }
        return binaryParts
    }
}
