import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Optional, OptionalHasElement and OptionalGetElement (opset 15; 18 lets the last two take
    /// a plain tensor or sequence, and HasElement an omitted input). An optional that holds a
    /// value is carried as the value itself (see ``Value``), so these ops only tell apart
    /// ``Value/emptyOptional`` from the rest.
    mutating func registerOptionalOps() {
        register("Optional", opsets: 15...Int.max) { _, _, _ in
            { inputs, _ in
                guard let v = inputs.first ?? nil else { return [.emptyOptional] }
                return [v]
            }
        }
        register("OptionalHasElement", opsets: 15...Int.max) { _, _, _ in
            { inputs, _ in
                switch inputs.first ?? nil {
                case nil, .emptyOptional?: return [.tensor(Tensor.scalar(false))]
                default: return [.tensor(Tensor.scalar(true))]
                }
            }
        }
        register("OptionalGetElement", opsets: 15...Int.max) { _, _, _ in
            { inputs, _ in
                switch inputs.first ?? nil {
                case nil: throw KernelError("OptionalGetElement needs an input")
                case .emptyOptional?: throw KernelError("OptionalGetElement: the optional is empty")
                case let v?: return [v]
                }
            }
        }
    }
}
