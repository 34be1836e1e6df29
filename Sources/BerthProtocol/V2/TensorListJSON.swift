import BerthTensor

/// Named tensors as the V2 protocol writes them in JSON, every one with `data` inline:
/// `[{"name":..,"datatype":..,"shape":[..],"data":[..]}, ...]`. The prediction log stores inputs
/// and outputs in this form, so an exported line reads like the request and response did.
public enum TensorListJSON {
    /// The JSON text of `items`, in order.
    public static func encode(_ items: [(name: String, tensor: Tensor)]) -> String {
        var w = JSONWriter(capacity: 64 + items.reduce(0) { $0 + 64 + $1.tensor.count * 12 })
        _ = w.tensors(items.map { ($0.name, $0.tensor, false) })
        return w.buffer.readString(length: w.buffer.readableBytes) ?? "[]"
    }
}
