import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// The loss family: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12; 13
    /// only widened the types). Both are evaluated in Double and returned in the input's dtype.
    mutating func registerLossKernels() {
        register("NegativeLogLikelihoodLoss", opsets: 12...Int.max) { node, _ in
            let options = try LossOptions(node)
            return { inputs, _ in
                let x = try inputs.required(0)
                let loss = try negativeLogLikelihood(logProb: x.doubles, shape: x.shape, target: try inputs.required(1),
                                                     weight: inputs.optional(2), options: options)
                return [try lossTensor(loss.values, shape: loss.shape, like: x)]
            }
        }
        register("SoftmaxCrossEntropyLoss", opsets: 12...Int.max) { node, _ in
            let options = try LossOptions(node)
            return { inputs, _ in
                let x = try inputs.required(0)
                let logProb = try logSoftmaxAxis1(x)
                let loss = try negativeLogLikelihood(logProb: logProb, shape: x.shape, target: try inputs.required(1),
                                                     weight: inputs.optional(2), options: options)
                return [try lossTensor(loss.values, shape: loss.shape, like: x), try lossTensor(logProb, shape: x.shape, like: x)]
            }
        }
    }
}

/// The attributes both losses share.
struct LossOptions: Sendable {
    enum Reduction: String, Sendable { case none, sum, mean }
    var reduction: Reduction
    var ignoreIndex: Int?

    init(_ node: Node) throws {
        let r = try node.string("reduction", default: "mean")
        guard let red = Reduction(rawValue: r) else { throw KernelError("\(node.opType) reduction must be none, sum or mean, got '\(r)'") }
        reduction = red
        ignoreIndex = node.attributes["ignore_index"] == nil ? nil : try node.int("ignore_index")
    }
}

/// log(softmax(x)) along axis 1 of x [N, C, d1…], numerically stable.
func logSoftmaxAxis1(_ x: Tensor) throws -> [Double] {
    guard x.dtype.isFloatingPoint else { throw KernelError("scores must be floating point, got \(x.dtype)") }
    guard x.rank >= 2 else { throw KernelError("scores must have rank >= 2 ([N, C, ...]), got shape \(x.shape)") }
    var v = x.doubles
    let n = x.shape[0], c = x.shape[1]
    let d = x.shape[2...].reduce(1, *)
    for i in 0..<n {
        for k in 0..<d {
            let base = i * c * d + k
            var m = -Double.infinity
            for j in 0..<c { m = max(m, v[base + j * d]) }
            var sum = 0.0
            for j in 0..<c { sum += exp(v[base + j * d] - m) }
            let lse = m + log(sum)
            for j in 0..<c { v[base + j * d] -= lse }
        }
    }
    return v
}

/// NegativeLogLikelihoodLoss over log-probabilities [N, C, d1…] and targets [N, d1…], as the
/// ONNX reference computes it: an ignored target contributes 0 and no weight; `mean` divides
/// by the summed weights of the targets used (their count without `weight`).
func negativeLogLikelihood(logProb: [Double], shape: [Int], target: Tensor, weight: Tensor?,
                           options: LossOptions) throws -> (values: [Double], shape: [Int]) {
    guard shape.count >= 2 else { throw KernelError("input must have rank >= 2 ([N, C, ...]), got shape \(shape)") }
    let n = shape[0], c = shape[1]
    let targetShape = [n] + shape[2...]
    guard target.shape == targetShape else { throw KernelError("target shape \(target.shape) does not match input shape \(shape) (want \(targetShape))") }
    guard target.dtype == .int64 || target.dtype == .int32 else { throw KernelError("target must be int32 or int64, got \(target.dtype)") }
    let labels = try target.integers()
    var weights: [Double]?
    if let weight {
        guard weight.shape == [c] else { throw KernelError("weight must have shape [\(c)], got \(weight.shape)") }
        weights = weight.doubles
    }
    let d = shape[2...].reduce(1, *)
    var loss = [Double](repeating: 0, count: n * d)
    var weightSum = 0.0
    for i in 0..<n {
        for k in 0..<d {
            let t = labels[i * d + k]
            if let ignore = options.ignoreIndex, t == ignore { continue }
            guard t >= 0, t < c else { throw KernelError("target \(t) is out of range [0, \(c))") }
            let w = weights?[t] ?? 1
            loss[i * d + k] = -logProb[(i * c + t) * d + k] * w
            weightSum += w
        }
    }
    switch options.reduction {
    case .none: return (loss, targetShape)
    case .sum: return ([loss.reduce(0, +)], [])
    case .mean:
        // Without weights or ignore_index the reference takes the plain mean over all targets.
        let denominator = (weights == nil && options.ignoreIndex == nil) ? Double(loss.count) : weightSum
        return ([loss.reduce(0, +) / denominator], [])
    }
}

/// `values` as a tensor of `like`'s floating-point dtype.
func lossTensor(_ values: [Double], shape: [Int], like x: Tensor) throws -> Tensor {
    switch x.dtype {
    case .float32: return try Tensor(shape: shape, storage: .float32(values.map { Float($0) }))
    case .float64: return try Tensor(shape: shape, storage: .float64(values))
    case .float16: return try Tensor(shape: shape, storage: .float16(values.map { Float16($0) }))
    default: throw KernelError("input must be float16, float32 or float64, got \(x.dtype)")
    }
}
