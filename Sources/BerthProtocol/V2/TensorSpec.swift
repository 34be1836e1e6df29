import BerthTensor

/// A tensor a model declares: its name, element type and shape, as far as the model fixes them.
/// The request decoder checks every input against these before anything is allocated.
public struct TensorSpec: Sendable, Equatable {
    /// The tensor's name.
    public var name: String
    /// The element type; nil when the model does not say.
    public var dtype: DType?
    /// The dimensions (nil for a dynamic one); nil when even the rank is unknown.
    public var shape: [Int?]?

    /// A spec from its parts.
    public init(name: String, dtype: DType?, shape: [Int?]?) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// The shape as the protocol's metadata writes it (`-1` for a dynamic dimension).
    public var metadataShape: [Int] { (shape ?? []).map { $0 ?? -1 } }
}

/// What a request is checked against: a model's name and its declared inputs and outputs, in
/// model order.
public struct ModelInterface: Sendable {
    /// The model name (for error messages and responses).
    public var name: String
    /// The inputs, in model order.
    public var inputs: [TensorSpec]
    /// The outputs, in model order.
    public var outputs: [TensorSpec]

    /// An interface from its parts.
    public init(name: String, inputs: [TensorSpec], outputs: [TensorSpec]) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
    }

    /// The rows a request carries: dim 0 of the model's first input (1 for a scalar or when that
    /// input is absent). The one definition the decoder, the batcher and the statistics share.
    public func rows(of feeds: [String: Tensor]) -> Int { Self.rows(of: feeds, firstInput: inputs.first?.name) }

    /// ``rows(of:)`` for a model whose first input is `firstInput`.
    public static func rows(of feeds: [String: Tensor], firstInput: String?) -> Int {
        guard let firstInput, let t = feeds[firstInput] else { return 1 }
        return t.shape.first ?? 1
    }
}
