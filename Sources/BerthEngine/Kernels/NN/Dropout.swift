import BerthONNX
import BerthTensor

/// Dropout at inference: the output is the input and the optional mask keeps everything.
/// Training mode (opset 12+ `training_mode` input set to true) keeps each element with
/// probability 1 - ratio and scales kept ones by 1 / (1 - ratio), as ONNX Runtime's CPU kernel
/// does; with a `seed` attribute every run draws the same mask (see ``RandomOptions``).
private func nnDropout(_ inputs: [Tensor?], wantMask: Bool, boolMask: Bool, opset: Int, seed: UInt64?) throws -> [Tensor] {
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
            return try nnTrainingDropout(x, ratio: ratio, wantMask: wantMask, seed: seed)
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

/// Training-mode Dropout: a Bernoulli(1 - ratio) keep mask, kept elements scaled by 1 / (1 - ratio).
private func nnTrainingDropout(_ x: Tensor, ratio: Double, wantMask: Bool, seed: UInt64?) throws -> [Tensor] {
    guard ratio >= 0, ratio < 1 else { throw KernelError("Dropout ratio must be in [0, 1) in training mode, got \(ratio)") }
    guard x.dtype.isFloatingPoint else { throw KernelError("Dropout in training mode needs a floating-point input, got \(x.dtype)") }
    var rng = RandomSource(seed: seed)
    let keep = (0..<x.count).map { _ in rng.unit() >= ratio }
    let scale = 1 / (1 - ratio)
    let v = x.doubles
    let y = (0..<x.count).map { keep[$0] ? v[$0] * scale : 0 }
    let out: TensorStorage
    switch x.dtype {
    case .float64: out = .float64(y)
    case .float16: out = .float16(y.map { Float16($0) })
    default: out = .float32(y.map { Float($0) })
    }
    let result = Tensor(unchecked: x.shape, storage: out)
    return wantMask ? [result, Tensor(unchecked: x.shape, storage: .bool(keep))] : [result]
}

private func nnOnes<T: NumericElement>(_: T.Type, count: Int) -> TensorStorage {
    T.storage(Array(repeating: T(fromDouble: 1), count: count))
}

extension KernelRegistry {
    /// Registers Dropout (all opsets): the identity at inference, a random mask in training mode.
    mutating func registerDropoutKernels() {
        register("Dropout", opsets: 1...Int.max) { node, opset in
            let wantMask = node.outputs.count > 1 && !node.outputs[1].isEmpty
            let boolMask = opset >= 10
            let seed = node.attributes["seed"] == nil ? nil : UInt64(bitPattern: Int64(try node.int("seed")))
            return { inputs, _ in try nnDropout(inputs, wantMask: wantMask, boolMask: boolMask, opset: opset, seed: seed) }
        }
    }
}
