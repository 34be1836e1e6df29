import BerthTensor

/// A node attribute value, decoded from `AttributeProto`.
public indirect enum Attribute: Sendable {
    case float(Float)
    case int(Int)
    case string(String)
    case tensor(Tensor)
    case graph(Graph)
    case floats([Float])
    case ints([Int])
    case strings([String])
    case tensors([Tensor])
    case graphs([Graph])
    /// A type (`TYPE_PROTO`, e.g. Optional's `type`), as the kind of value it describes.
    case type(ValueKind)
}
