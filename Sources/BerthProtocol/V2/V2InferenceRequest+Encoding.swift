import BerthTensor
import NIOCore

extension V2InferenceRequest {
    /// The request body as a client sends it: `{"id":..,"inputs":[..],"outputs":[..],"parameters":{..}}`;
    /// with `binary`, every input's bytes follow the JSON (`parameters.binary_data_size`) and the
    /// returned `jsonLength` is the `Inference-Header-Content-Length` header's value.
    public func encode(binary: Bool) -> (body: ByteBuffer, jsonLength: Int?) {
        var w = JSONWriter(capacity: 128 + inputs.reduce(0) { $0 + (binary ? 96 : 64 + $1.tensor.count * 12) })
        w.byte(0x7B)
        if let id {
            w.raw("\"id\":")
            w.string(id)
            w.byte(0x2C)
        }
        w.raw("\"inputs\":")
        let binaryParts = w.tensors(inputs.map { ($0.name, $0.tensor, binary) })
        if let outputs {
            w.raw(",\"outputs\":")
            w.array(outputs) { w, o in
                w.raw("{\"name\":")
                w.string(o.name)
                if let b = o.binary {
                    w.raw(",\"parameters\":{\"binary_data\":")
                    w.bool(b)
                    w.byte(0x7D)
                }
                w.byte(0x7D)
            }
        }
        if binaryDataOutput { w.raw(",\"parameters\":{\"binary_data_output\":true}") }
        w.byte(0x7D)
        if binaryParts.isEmpty { return (w.buffer, nil) }
        let jsonLength = w.buffer.readableBytes
        for t in binaryParts { BinaryTensorCodec.write(t.storage, to: &w.buffer) }
        return (w.buffer, jsonLength)
    }
}
