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

/// A graph input or output: its name, element type and (possibly partial) shape.
public struct ValueInfo: Sendable, CustomStringConvertible {
    /// The value name used by nodes.
    public var name: String
    /// The element type, nil when the model does not declare a tensor type.
    public var dtype: DType?
    /// The declared shape, nil when the rank is unknown.
    public var shape: [Dim]?

    public init(name: String, dtype: DType?, shape: [Dim]?) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    public var description: String {
        let s = shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "[?]"
        return "\(name): \(dtype?.description ?? "?")\(s)"
    }
}
