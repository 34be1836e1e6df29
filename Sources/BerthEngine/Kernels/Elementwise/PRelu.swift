import BerthONNX
import BerthTensor

/// True when a tensor of shape `source` broadcasts unidirectionally to shape `target`.
func elementwiseBroadcasts(from source: [Int], to target: [Int]) -> Bool {
    guard source.count <= target.count else { return false }
    for (s, t) in zip(source, target.suffix(source.count)) where s != t && s != 1 { return false }
    return true
}

/// For each element of a tensor of shape `target`, the index of the element of a tensor of shape
/// `source` that broadcasts onto it (unidirectional NumPy broadcasting), or nil when `source`
/// does not broadcast to `target`.
func elementwiseBroadcastIndices(from source: [Int], to target: [Int]) throws -> [Int]? {
    guard elementwiseBroadcasts(from: source, to: target) else { return nil }
    let padded = [Int](repeating: 1, count: target.count - source.count) + source
    let count = try Shape.elementCount(target)
    let sourceStrides = Shape.strides(padded)
    // Stride 0 along broadcast axes; walk the target with an odometer.
    let strides = zip(padded, sourceStrides).map { $0 == 1 ? 0 : $1 }
    var indices = [Int](repeating: 0, count: count)
    var counter = [Int](repeating: 0, count: target.count)
    var offset = 0
    for i in 0..<count {
        indices[i] = offset
        var axis = target.count - 1
        while axis >= 0 {
            counter[axis] += 1
            offset += strides[axis]
            if counter[axis] < target[axis] { break }
            offset -= strides[axis] * counter[axis]
            counter[axis] = 0
            axis -= 1
        }
    }
    return indices
}

/// `x < 0 ? slope * x : x` with `slope` broadcast to the shape of `x`.
/// When the slope's non-1 dimensions are one contiguous run matching `x` (a scalar, per-channel
/// [C,1,1], trailing [W], or full-size slope), `x` is `outer × period × inner` and the loops
/// need no index table; other layouts gather the slope through one.
private func preluApply<T: NumericElement & BitwiseCopyable>(_ x: [T], _ xShape: [Int], _ slope: [T], _ slopeShape: [Int],
                                                             _ pool: ThreadPool, _ mul: (T, T) -> T) throws -> [T] {
    guard elementwiseBroadcasts(from: slopeShape, to: xShape) else {
        throw KernelError("PRelu slope shape \(slopeShape) does not broadcast to input shape \(xShape)")
    }
    let n = x.count
    if n == 0 { return [] }
    if slope.count == 1, let s = slope.first {
        return elementwiseMap(x, pool, minChunk: elementwiseMinChunk) { v in v < .zero ? mul(s, v) : v }
    }
    let padded = [Int](repeating: 1, count: xShape.count - slopeShape.count) + slopeShape
    let varying = padded.indices.filter { padded[$0] != 1 }
    if let first = varying.first, let last = varying.last, (first...last).allSatisfy({ padded[$0] == xShape[$0] }) {
        let period = slope.count
        let inner = xShape[(last + 1)...].reduce(1, *)
        let outer = n / (period * inner)
        return [T](unsafeUninitializedCapacity: n) { out, initialized in
            x.withUnsafeBufferPointer { xp in
                slope.withUnsafeBufferPointer { sp in
                    guard let o = out.baseAddress, let xb = xp.baseAddress, let sb = sp.baseAddress else { return }
                    if inner == 1 {
                        // Slope varies along the innermost axes: vectorise across the period.
                        pool.parallelFor(outer, minChunk: max(1, elementwiseMinChunk / period)) { r in
                            for j in r {
                                let ob = o + j * period, xr = xb + j * period
                                for c in 0..<period { let v = xr[c]; ob[c] = v < .zero ? mul(sb[c], v) : v }
                            }
                        }
                    } else {
                        // One slope value per contiguous block of `inner` elements.
                        pool.parallelFor(outer * period, minChunk: max(1, elementwiseMinChunk / inner)) { r in
                            for j in r {
                                let s = sb[j % period]
                                let ob = o + j * inner, xr = xb + j * inner
                                for i in 0..<inner { let v = xr[i]; ob[i] = v < .zero ? mul(s, v) : v }
                            }
                        }
                    }
                }
            }
            initialized = n
        }
    }
    guard let indices = try elementwiseBroadcastIndices(from: slopeShape, to: xShape) else {
        throw KernelError("PRelu slope shape \(slopeShape) does not broadcast to input shape \(xShape)")
    }
    return zip(x, indices).map { v, i in v < .zero ? mul(slope[i], v) : v }
}

extension KernelRegistry {
    /// Registers PRelu (slope broadcast unidirectionally to the input).
    mutating func registerElementwisePRelu() {
        register("PRelu") { _, opset in
            { inputs, ctx in
                let x = try inputs.required(0)
                var slope = try inputs.required(1)
                // Before opset 7 a 1-D slope of C values is per channel (axis 1), as PyTorch's
                // exporter wrote it (pytorch-converted test_PReLU_*_multiparam); opset 7 made
                // PRelu broadcast like NumPy, where [C] would align with the last axis.
                if opset < 7, slope.rank == 1, slope.count > 1, x.rank >= 2, slope.count == x.shape[1] {
                    slope = try slope.reshaped([slope.count] + [Int](repeating: 1, count: x.rank - 2))
                }
                guard x.dtype == slope.dtype else {
                    throw KernelError("PRelu slope dtype \(slope.dtype) differs from input dtype \(x.dtype)")
                }
                let out: TensorStorage
                switch (x.storage, slope.storage) {
                case let (.float32(a), .float32(s)): out = .float32(try preluApply(a, x.shape, s, slope.shape, ctx.pool, *))
                case let (.float64(a), .float64(s)): out = .float64(try preluApply(a, x.shape, s, slope.shape, ctx.pool, *))
                case let (.float16(a), .float16(s)): out = .float16(try preluApply(a, x.shape, s, slope.shape, ctx.pool, *))
                case let (.int32(a), .int32(s)): out = .int32(try preluApply(a, x.shape, s, slope.shape, ctx.pool, &*))
                case let (.int64(a), .int64(s)): out = .int64(try preluApply(a, x.shape, s, slope.shape, ctx.pool, &*))
                // Unsigned inputs are never negative, so they pass through.
                case let (.uint32(a), .uint32) where elementwiseBroadcasts(from: slope.shape, to: x.shape): out = .uint32(a)
                case let (.uint64(a), .uint64) where elementwiseBroadcasts(from: slope.shape, to: x.shape): out = .uint64(a)
                default: throw KernelError("PRelu does not support dtype \(x.dtype)")
                }
                return [Tensor(unchecked: x.shape, storage: out)]
            }
        }
    }
}
