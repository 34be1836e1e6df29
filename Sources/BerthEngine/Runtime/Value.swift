import BerthTensor

/// A value flowing through a graph: a tensor, a sequence of tensors, or an optional with no
/// element. ONNX's `optional(T)` that holds an element is carried as that element, as ONNX
/// Runtime does, so only the empty optional needs a case of its own.
public enum Value: Sendable {
    /// A tensor (the only kind most operators take).
    case tensor(Tensor)
    /// An ordered list of tensors of one element type (SequenceConstruct, SplitToSequence …).
    case sequence(TensorSequence)
    /// An optional without an element (`Optional()` with a `type` attribute, or a fed `None`).
    case emptyOptional

    /// The tensor, or nil when the value is a sequence or an empty optional.
    public var tensor: Tensor? { if case let .tensor(t) = self { return t }; return nil }

    /// The sequence, or nil when the value is a tensor or an empty optional.
    public var sequence: TensorSequence? { if case let .sequence(s) = self { return s }; return nil }

    /// "tensor", "sequence" or "empty optional", for messages.
    public var kindName: String {
        switch self {
        case .tensor: return "tensor"
        case .sequence: return "sequence"
        case .emptyOptional: return "empty optional"
        }
    }
}

/// An ONNX sequence value: tensors of one element type; their shapes may differ.
public struct TensorSequence: Sendable {
    /// The element type every tensor of the sequence has (kept for an empty sequence too).
    public var elementType: DType
    /// The tensors, in order.
    public var tensors: [Tensor]

    /// A sequence of `tensors`; throws when one of them is not of `elementType`.
    public init(elementType: DType, tensors: [Tensor] = []) throws {
        for t in tensors where t.dtype != elementType {
            throw KernelError("a sequence of \(elementType) cannot hold a \(t.dtype) tensor")
        }
        self.elementType = elementType
        self.tensors = tensors
    }
}

extension Array where Element == Value? {
    /// Input `i` as a tensor; a ``KernelError`` when it is missing or not a tensor.
    func requiredTensor(_ i: Int) throws -> Tensor {
        guard i < count, let v = self[i] else { throw KernelError("required input \(i) is missing") }
        guard case let .tensor(t) = v else { throw KernelError("input \(i) must be a tensor, got a \(v.kindName)") }
        return t
    }

    /// Input `i` as a tensor when present (an empty optional counts as absent).
    func optionalTensor(_ i: Int) throws -> Tensor? {
        guard i < count, let v = self[i] else { return nil }
        switch v {
        case let .tensor(t): return t
        case .emptyOptional: return nil
        case .sequence: throw KernelError("input \(i) must be a tensor, got a sequence")
        }
    }

    /// Input `i` as a sequence; a ``KernelError`` when it is missing or not a sequence.
    func requiredSequence(_ i: Int) throws -> TensorSequence {
        guard i < count, let v = self[i] else { throw KernelError("required input \(i) is missing") }
        guard case let .sequence(s) = v else { throw KernelError("input \(i) must be a sequence, got a \(v.kindName)") }
        return s
    }
}
