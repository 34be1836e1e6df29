import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// The random family: RandomUniform, RandomNormal (shape from the `shape` attribute),
    /// RandomUniformLike, RandomNormalLike (shape of the input), Multinomial (opset 7) and
    /// Bernoulli (opset 15; the others since opset 1). With a `seed` attribute every run draws
    /// the same values (a fresh SplitMix64 per run, so concurrent runs need no shared state);
    /// without one each run draws from the system generator. Constant folding never folds these.
    mutating func registerRandomKernels() {
        register("RandomUniform", opsets: 1...Int.max) { node, _ in
            let p = try RandomOptions(node, defaultType: .float32)
            let shape = try node.ints("shape") ?? []
            let (low, high) = (try node.float("low", default: 0), try node.float("high", default: 1))
            return { _, _ in [try p.draw(shape: shape) { low + Float($0.unit()) * (high - low) }] }
        }
        register("RandomNormal", opsets: 1...Int.max) { node, _ in
            let p = try RandomOptions(node, defaultType: .float32)
            let shape = try node.ints("shape") ?? []
            let (mean, scale) = (try node.float("mean", default: 0), try node.float("scale", default: 1))
            return { _, _ in [try p.draw(shape: shape) { mean + scale * Float($0.normal()) }] }
        }
        register("RandomUniformLike", opsets: 1...Int.max) { node, _ in
            let p = try RandomOptions(node, defaultType: nil)
            let (low, high) = (try node.float("low", default: 0), try node.float("high", default: 1))
            return { inputs, _ in
                let x = try inputs.required(0)
                return [try p.draw(shape: x.shape, like: x) { low + Float($0.unit()) * (high - low) }]
            }
        }
        register("RandomNormalLike", opsets: 1...Int.max) { node, _ in
            let p = try RandomOptions(node, defaultType: nil)
            let (mean, scale) = (try node.float("mean", default: 0), try node.float("scale", default: 1))
            return { inputs, _ in
                let x = try inputs.required(0)
                return [try p.draw(shape: x.shape, like: x) { mean + scale * Float($0.normal()) }]
            }
        }
        register("Multinomial", opsets: 7...Int.max) { node, _ in
            let p = try RandomOptions(node, defaultType: .int32)
            guard p.dtype == .int32 || p.dtype == .int64 else { throw KernelError("Multinomial dtype must be int32 or int64") }
            let samples = try node.int("sample_size", default: 1)
            guard samples > 0 else { throw KernelError("Multinomial sample_size must be positive, got \(samples)") }
            return { inputs, _ in
                let x = try inputs.required(0)
                // Indices travel through Float below: exact up to 2^24 classes.
                guard x.dtype.isFloatingPoint, x.rank == 2, x.shape[1] > 0, x.shape[1] <= 1 << 24 else {
                    throw KernelError("Multinomial input must be floating-point log-probabilities [batch, classes], got \(x.dtype)\(x.shape)")
                }
                let (batch, classes) = (x.shape[0], x.shape[1])
                let logits = x.doubles
                // Per row: the cumulative softmax, then one class per uniform draw.
                var cdf = [Double](repeating: 0, count: classes)
                var row = 0, k = 0
                return [try p.draw(shape: [batch, samples]) { rng in
                    if k == 0 {
                        let base = row * classes
                        let m = logits[base..<(base + classes)].max() ?? 0
                        var total = 0.0
                        for c in 0..<classes { total += exp(logits[base + c] - m); cdf[c] = total }
                        for c in 0..<classes { cdf[c] /= total }
                    }
                    let u = rng.unit()
                    let pick = cdf.firstIndex(where: { u < $0 }) ?? classes - 1
                    k += 1
                    if k == samples { k = 0; row += 1 }
                    return Float(pick)
                }]
            }
        }
        register("Bernoulli", opsets: 15...Int.max) { node, _ in
            let p = try RandomOptions(node, defaultType: nil)
            return { inputs, _ in
                let x = try inputs.required(0)
                guard x.dtype.isFloatingPoint else { throw KernelError("Bernoulli input must be floating point, got \(x.dtype)") }
                let probabilities = x.doubles
                var i = 0
                return [try p.draw(shape: x.shape, like: x) { rng in
                    defer { i += 1 }
                    return rng.unit() < probabilities[i] ? 1 : 0
                }]
            }
        }
    }
}

/// The `dtype` and `seed` attributes the random ops share, and the drawing loop.
struct RandomOptions: Sendable {
    /// The output type; nil means the input's (the *Like ops and Bernoulli).
    var dtype: DType?
    var seed: UInt64?

    init(_ node: Node, defaultType: DType?) throws {
        if node.attributes["dtype"] != nil {
            let code = try node.int("dtype")
            guard let t = DType(rawValue: code) else { throw KernelError("\(node.opType) dtype \(code) is not a known type") }
            dtype = t
        } else {
            dtype = defaultType
        }
        seed = node.attributes["seed"] == nil ? nil : UInt64(try node.float("seed", default: 0).bitPattern)
    }

    /// A tensor of `shape` whose elements `value` draws in order, in the output type.
    func draw(shape: [Int], like x: Tensor? = nil, _ value: (inout RandomSource) -> Float) throws -> Tensor {
        guard let type = dtype ?? x?.dtype else { throw KernelError("no output dtype") }
        let n = try TensorFamily.count(shape)
        var rng = RandomSource(seed: seed)
        let v = (0..<n).map { _ in Double(value(&rng)) }
        switch type {
        case .float32: return try Tensor(shape: shape, storage: .float32(v.map { Float($0) }))
        case .float64: return try Tensor(shape: shape, storage: .float64(v))
        case .float16: return try Tensor(shape: shape, storage: .float16(v.map { Float16($0) }))
        case .int32: return try Tensor(shape: shape, storage: .int32(v.map { Int32($0) }))
        case .int64: return try Tensor(shape: shape, storage: .int64(v.map { Int64($0) }))
        case .bool: return try Tensor(shape: shape, storage: .bool(v.map { $0 != 0 }))
        default: throw KernelError("random output of type \(type) is not supported")
        }
    }
}

/// Uniform and normal draws from a seeded SplitMix64 or the system generator.
struct RandomSource {
    private var seeded: SplitMix64?
    private var system = SystemRandomNumberGenerator()

    init(seed: UInt64?) { seeded = seed.map { SplitMix64(seed: $0) } }

    /// Uniform in [0, 1).
    mutating func unit() -> Double {
        if seeded != nil { return seeded!.nextUnit() }
        return Double(system.next() >> 11) / Double(1 << 53)
    }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u1 = max(unit(), .leastNonzeroMagnitude), u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
