import BerthONNX
import BerthTensor

/// Parsed BatchNormalization attributes across opsets.
private struct NormBatchNormAttributes: Sendable {
    var epsilon: Float
    var momentum: Float
    var training: Bool
    var outputs: Int
}

/// BatchNormalization. Inference mode folds the statistics into one multiply-add per element:
/// `y = x * a[c] + b[c]` with `a = scale / sqrt(var + eps)` and `b = bias - mean * a`.
/// Training mode (opset 14+) normalises with the batch statistics and also returns the updated
/// running mean and variance.
private func normBatchNorm(_ inputs: [Tensor?], attrs: NormBatchNormAttributes, pool: ThreadPool) throws -> [Tensor] {
    let x = try inputs.required(0)
    guard x.rank >= 2 else { throw KernelError("BatchNormalization expects X of rank >= 2 [N, C, ...], got \(x.shape)") }
    let n = x.shape[0], c = x.shape[1]
    let spatial = try Shape.elementCount(Array(x.shape[2...]))
    let names = ["scale", "B", "input_mean", "input_var"]
    var params = [[Float]]()
    for i in 0..<4 { params.append(try normFloats(try inputs.required(i + 1), names[i])) }
    // Per-channel parameters, or per-activation ones ([C, spatial...], opsets < 9 with spatial = 0).
    let perElement = params[0].count == c * spatial && spatial != 1
    for (i, p) in params.enumerated() where p.count != c && !(perElement && p.count == c * spatial) {
        throw KernelError("BatchNormalization \(names[i]) has \(p.count) values, expected \(c) (channels of X \(x.shape))")
    }
    let xs = try normFloats(x, "X")
    let eps = attrs.epsilon
    var mean = params[2], variance = params[3]
    if attrs.training {
        guard !perElement else { throw KernelError("BatchNormalization training mode needs per-channel parameters") }
        (mean, variance) = normChannelStats(xs, n: n, c: c, spatial: spatial)
    }
    let width = perElement ? c * spatial : c
    var a = [Float](repeating: 0, count: width), b = [Float](repeating: 0, count: width)
    for i in 0..<width {
        a[i] = params[0][i] / (variance[i] + eps).squareRoot()
        b[i] = params[1][i] - mean[i] * a[i]
    }
    let total = xs.count
    let y = [Float](unsafeUninitializedCapacity: total) { yb, count in
        count = total
        guard total > 0 else { return }
        xs.withUnsafeBufferPointer { xb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            let planes = n * c
            pool.parallelFor(planes, minChunk: max(1, 16_384 / max(1, spatial))) { range in
                for p in range {
                    let ch = p % c
                    let off = p * spatial
                    if perElement {
                        for i in 0..<spatial { yp[off + i] = xp[off + i] * a[ch * spatial + i] + b[ch * spatial + i] }
                    } else {
                        normAffineRow(xp + off, yp + off, count: spatial, a: a[ch], b: b[ch])
                    }
                }
            }
        }
    }
    var result = [normTensor(y, shape: x.shape, like: x.dtype)]
    if attrs.outputs > 1 {
        let m = attrs.momentum
        let pShape = try inputs.required(3).shape, pType = try inputs.required(3).dtype
        // Training mode returns the momentum-updated running statistics; inference returns them as given.
        let runMean = attrs.training ? zip(params[2], mean).map { $0 * m + $1 * (1 - m) } : params[2]
        let runVar = attrs.training ? zip(params[3], variance).map { $0 * m + $1 * (1 - m) } : params[3]
        result.append(normTensor(runMean, shape: pShape, like: pType))
        if attrs.outputs > 2 { result.append(normTensor(runVar, shape: pShape, like: pType)) }
        if attrs.outputs > 3 {
            throw KernelError("BatchNormalization saved_mean/saved_var outputs (training in opsets < 14) are not supported")
        }
    }
    return result
}

/// Per-channel mean and population variance over the batch and spatial axes.
private func normChannelStats(_ x: [Float], n: Int, c: Int, spatial: Int) -> ([Float], [Float]) {
    var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
    let count = Double(n * spatial)
    guard count > 0 else { return (mean, variance) }
    for ch in 0..<c {
        var s = 0.0
        for b in 0..<n { let off = (b * c + ch) * spatial; for i in 0..<spatial { s += Double(x[off + i]) } }
        let mu = s / count
        var q = 0.0
        for b in 0..<n { let off = (b * c + ch) * spatial; for i in 0..<spatial { let d = Double(x[off + i]) - mu; q += d * d } }
        mean[ch] = Float(mu)
        variance[ch] = Float(q / count)
    }
    return (mean, variance)
}

/// InstanceNormalization: every (N, C) plane is normalised by its own mean and variance.
private func normInstanceNorm(_ inputs: [Tensor?], epsilon: Float, pool: ThreadPool) throws -> Tensor {
    let x = try inputs.required(0)
    guard x.rank >= 3 else { throw KernelError("InstanceNormalization expects X of rank >= 3 [N, C, D1, ...], got \(x.shape)") }
    let n = x.shape[0], c = x.shape[1]
    let spatial = try Shape.elementCount(Array(x.shape[2...]))
    let scale = try normFloats(try inputs.required(1), "scale")
    let bias = try normFloats(try inputs.required(2), "B")
    guard scale.count == c, bias.count == c else {
        throw KernelError("InstanceNormalization scale and B must have \(c) values, got \(scale.count) and \(bias.count)")
    }
    let xs = try normFloats(x, "input")
    let total = xs.count
    let y = [Float](unsafeUninitializedCapacity: total) { yb, count in
        count = total
        guard total > 0, spatial > 0 else { return }
        xs.withUnsafeBufferPointer { xb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            pool.parallelFor(n * c, minChunk: max(1, 8192 / spatial)) { range in
                for p in range {
                    let ch = p % c
                    let off = p * spatial
                    let (mean, variance) = normMeanVariance(xp + off, count: spatial)
                    let a = scale[ch] / (variance + epsilon).squareRoot()
                    normAffineRow(xp + off, yp + off, count: spatial, a: a, b: bias[ch] - mean * a)
                }
            }
        }
    }
    return normTensor(y, shape: x.shape, like: x.dtype)
}

extension KernelRegistry {
    /// Registers BatchNormalization (all opsets; training mode from opset 14) and InstanceNormalization.
    mutating func registerBatchNormalizationKernels() {
        register("BatchNormalization", opsets: 1...Int.max) { node, opset in
            let mode = opset >= 14 ? try node.int("training_mode", default: 0) : 0
            let training = mode != 0
            let outputs = node.outputs.lastIndex(where: { !$0.isEmpty }).map { $0 + 1 } ?? 1
            if opset >= 14, !training, outputs > 1 {
                throw KernelError("BatchNormalization running_mean/running_var outputs need training_mode = 1")
            }
            let attrs = NormBatchNormAttributes(
                epsilon: try node.float("epsilon", default: 1e-5),
                momentum: try node.float("momentum", default: 0.9),
                training: training, outputs: outputs)
            return { inputs, ctx in try normBatchNorm(inputs, attrs: attrs, pool: ctx.pool) }
        }
        register("InstanceNormalization", opsets: 1...Int.max) { node, _ in
            let epsilon = try node.float("epsilon", default: 1e-5)
            return { inputs, ctx in [try normInstanceNorm(inputs, epsilon: epsilon, pool: ctx.pool)] }
        }
    }
}
