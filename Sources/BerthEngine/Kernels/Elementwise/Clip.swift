import BerthONNX
import BerthTensor

/// `min(max(x, lo), hi)` written with comparisons so NaN passes through (as in NumPy) and the loop
/// vectorises. When `lo > hi` every element becomes `hi`, as the ONNX spec requires.
@inline(__always)
func elementwiseClip<T: NumericElement & BitwiseCopyable>(_ v: [T], _ lo: T?, _ hi: T?, _ pool: ThreadPool) -> [T] {
    switch (lo, hi) {
    case let (lo?, hi?): return elementwiseMap(v, pool, minChunk: elementwiseMinChunk) { x in let y = x < lo ? lo : x; return y > hi ? hi : y }
    case let (lo?, nil): return elementwiseMap(v, pool, minChunk: elementwiseMinChunk) { x in x < lo ? lo : x }
    case let (nil, hi?): return elementwiseMap(v, pool, minChunk: elementwiseMinChunk) { x in x > hi ? hi : x }
    case (nil, nil): return v
    }
}

/// Reads an optional single-element bound of the input's dtype (opset 11+).
private func clipBound<T: NumericElement>(_ t: Tensor?, _: T.Type, _ which: String) throws -> T? {
    guard let t else { return nil }
    guard t.dtype == T.dtype else { throw KernelError("Clip \(which) must have the input's dtype \(T.dtype), got \(t.dtype)") }
    guard t.count == 1, let v = T.values(in: t.storage)?.first else {
        throw KernelError("Clip \(which) must be a scalar, got shape \(t.shape)")
    }
    return v
}

/// Clip with bounds given as tensors (opset 11+), for every numeric dtype.
private func clipWithInputs(_ x: Tensor, _ lo: Tensor?, _ hi: Tensor?, _ pool: ThreadPool) throws -> Tensor {
    func run<T: NumericElement & BitwiseCopyable>(_ v: [T]) throws -> TensorStorage {
        T.storage(elementwiseClip(v, try clipBound(lo, T.self, "min"), try clipBound(hi, T.self, "max"), pool))
    }
    let out: TensorStorage
    switch x.storage {
    case let .float32(v): out = try run(v)
    case let .float64(v): out = try run(v)
    case let .float16(v): out = try run(v)
    case let .int8(v): out = try run(v)
    case let .uint8(v): out = try run(v)
    case let .int16(v): out = try run(v)
    case let .uint16(v): out = try run(v)
    case let .int32(v): out = try run(v)
    case let .uint32(v): out = try run(v)
    case let .int64(v): out = try run(v)
    case let .uint64(v): out = try run(v)
    case .bool, .string: throw KernelError("Clip expects a numeric tensor, got \(x.dtype)")
    }
    return Tensor(unchecked: x.shape, storage: out)
}

extension KernelRegistry {
    /// Registers Clip in its attribute form (opsets 1-10) and input form (11+).
    mutating func registerElementwiseClip() {
        // Opsets 1-10: bounds are float attributes and the input is a float tensor.
        register("Clip", opsets: 1...10) { node, _ in
            let lo: Float? = node.attributes["min"] == nil ? nil : try node.float("min", default: 0)
            let hi: Float? = node.attributes["max"] == nil ? nil : try node.float("max", default: 0)
            return { (inputs: [Tensor?], ctx: KernelContext) throws -> [Tensor] in
                let x = try inputs.required(0)
                switch x.storage {
                case let .float32(v):
                    return [Tensor(unchecked: x.shape, storage: .float32(elementwiseClip(v, lo, hi, ctx.pool)))]
                case let .float64(v):
                    return [Tensor(unchecked: x.shape, storage: .float64(elementwiseClip(v, lo.map { Double($0) }, hi.map { Double($0) }, ctx.pool)))]
                case let .float16(v):
                    return [Tensor(unchecked: x.shape, storage: .float16(elementwiseClip(v, lo.map { Float16($0) }, hi.map { Float16($0) }, ctx.pool)))]
                default: throw KernelError("Clip expects a float tensor, got \(x.dtype)")
                }
            }
        }
        // Opset 11+: bounds are optional scalar inputs of the input's dtype.
        register("Clip", opsets: 11...Int.max) { _, _ in
            { inputs, ctx in [try clipWithInputs(try inputs.required(0), inputs.optional(1), inputs.optional(2), ctx.pool)] }
        }
    }
}
