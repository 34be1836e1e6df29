import BerthONNX
import BerthTensor

/// Dropout at inference: the output is the input and the optional mask keeps everything.
/// Training mode (opset 12+ `training_mode` input set to true) with a non-zero ratio draws random
/// masks, which an inference engine does not do; it is rejected with a clear error.
private func nnDropout(_ inputs: [Tensor?], wantMask: Bool, boolMask: Bool, opset: Int) throws -> [Tensor] {
    let x = try inputs.required(0)
    if opset >= 12, let t = inputs.optional(2) {
        guard case let .bool(flags) = t.storage, flags.count == 1 else {
            throw KernelError("Dropout training_mode must be a bool scalar, got \(t.dtype)\(t.shape)")
        }
        var ratio = 0.5
        if let r = inputs.optional(1) {
            guard r.count == 1, r.dtype.isFloatingPoint else { throw KernelError("Dropout ratio must be a float scalar, got \(r.dtype)\(r.shape)") }
            ratio = r.storage.double(at: 0)
        }
        if flags[0], ratio != 0 {
            throw KernelError("Dropout with training_mode = true and ratio \(ratio) is not supported (inference only)")
        }
    }
    guard wantMask else { return [x] }
    let mask: Tensor
    if boolMask {
        mask = Tensor(unchecked: x.shape, storage: .bool(Array(repeating: true, count: x.count)))
    } else {
        // Opsets before 10 type the mask like the input.
        guard let ones = x.dtype.withNumericType({ nnOnes($0, count: x.count) }) else {
            throw KernelError("Dropout does not support dtype \(x.dtype)")
        }
        mask = Tensor(unchecked: x.shape, storage: ones)
    }
    return [x, mask]
}

private func nnOnes<T: NumericElement>(_: T.Type, count: Int) -> TensorStorage {
    T.storage(Array(repeating: T(fromDouble: 1), count: count))
}

extension KernelRegistry {
    /// Registers Dropout (all opsets) as the inference-mode identity.
    mutating func registerDropoutKernels() {
        register("Dropout", opsets: 1...Int.max) { node, opset in
            let wantMask = node.outputs.count > 1 && !node.outputs[1].isEmpty
            let boolMask = opset >= 10
            return { inputs, _ in try nnDropout(inputs, wantMask: wantMask, boolMask: boolMask, opset: opset) }
        }
    }
}
