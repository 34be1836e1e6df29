import BerthTensor

/// One dimension of a declared shape.
public enum Dim: Sendable, Equatable, CustomStringConvertible {
    /// A fixed size.
    case fixed(Int)
    /// A named symbolic size such as `batch`.
    case symbolic(String)
    /// A dimension with neither a size nor a name.
    case unknown

    public var description: String {
        switch self {
        case let .fixed(n): return String(n)
        case let .symbolic(s): return s
        case .unknown: return "?"
        }
    }

    /// The fixed size, or nil.
    public var value: Int? { if case let .fixed(n) = self { return n }; return nil }
}

/// What kind of value a graph input or output declares: a tensor (most), a sequence of
/// tensors, an optional, or a type Berth does not carry (maps, sparse tensors).
public indirect enum ValueKind: Sendable, Equatable, CustomStringConvertible {
    case tensor
    /// `sequence(tensor(element))`; element nil when undeclared or not a tensor type.
    case sequence(element: DType?)
    /// `optional(wrapped)`.
    case optional(ValueKind)
    case other

    public var description: String {
        switch self {
        case .tensor: return "tensor"
        case let .sequence(e): return "sequence(\(e?.description ?? "?"))"
        case let .optional(k): return "optional(\(k))"
        case .other: return "unsupported type"
        }
    }
}

/// A graph input or output: its name, element type and (possibly partial) shape.
public struct ValueInfo: Sendable, CustomStringConvertible {
    /// The value name used by nodes.
    public var name: String
    /// The element type, nil when the model does not declare a tensor type.
    public var dtype: DType?
    /// The declared shape, nil when the rank is unknown.
    public var shape: [Dim]?
    /// Tensor, sequence or optional; `dtype` and `shape` describe a tensor (or an optional
    /// tensor's element) only.
    public var kind: ValueKind

    public init(name: String, dtype: DType?, shape: [Dim]?, kind: ValueKind = .tensor) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.kind = kind
    }

    public var description: String {
        let s = shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "[?]"
        if kind != .tensor { return "\(name): \(kind)" }
        return "\(name): \(dtype?.description ?? "?")\(s)"
    }
}
