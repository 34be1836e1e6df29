import BerthONNX
import BerthTensor
import Foundation

/// LRN: `y = x / (bias + alpha / size * sum of x^2 over nearby channels)^beta`, the channel window
/// being `[c - floor((size-1)/2), c + ceil((size-1)/2)]` clipped to the channels.
private func nnLRN(_ x: Tensor, size: Int, alpha: Float, beta: Float, bias: Float, pool: ThreadPool) throws -> Tensor {
    let (n, c, spatial) = try nnSplitNC(x.rank == 2 ? x.shape + [1] : x.shape, op: "LRN")
    let plane = try Shape.elementCount(spatial)
    let xs: [Float]
    switch x.storage {
    case let .float32(v): xs = v
    case let .float16(v): xs = v.map { Float($0) }
    case let .float64(v): xs = v.map { Float($0) }
    default: throw KernelError("LRN expects a floating-point input, got \(x.dtype)")
    }
    let before = (size - 1) / 2, after = size - 1 - before
    let scale = alpha / Float(size)
    let total = xs.count
    let y = [Float](unsafeUninitializedCapacity: total) { yb, count in
        count = total
        guard total > 0 else { return }
        xs.withUnsafeBufferPointer { xb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            pool.parallelFor(n * c, minChunk: max(1, 4096 / max(1, plane * size))) { range in
                for p in range {
                    let b = p / c, ch = p % c
                    let lo = max(0, ch - before), hi = min(c - 1, ch + after)
                    let out = yp + p * plane, src = xp + p * plane
                    for i in 0..<plane {
                        var s: Float = 0
                        if lo <= hi {
                            for k in lo...hi { let v = xp[(b * c + k) * plane + i]; s += v * v }
                        }
                        (out + i).initialize(to: src[i] / Foundation.pow(bias + scale * s, beta))
                    }
                }
            }
        }
    }
    switch x.dtype {
    case .float16: return Tensor(unchecked: x.shape, storage: .float16(y.map { Float16($0) }))
    case .float64: return Tensor(unchecked: x.shape, storage: .float64(y.map { Double($0) }))
    default: return Tensor(unchecked: x.shape, storage: .float32(y))
    }
}

extension KernelRegistry {
    /// Registers LRN (all opsets).
    mutating func registerLRNKernels() {
        register("LRN", opsets: 1...Int.max) { node, _ in
            let size = try node.int("size")
            guard size >= 1 else { throw KernelError("LRN size must be >= 1, got \(size)") }
            let alpha = try node.float("alpha", default: 1e-4)
            let beta = try node.float("beta", default: 0.75)
            let bias = try node.float("bias", default: 1)
            return { inputs, ctx in [try nnLRN(try inputs.required(0), size: size, alpha: alpha, beta: beta, bias: bias, pool: ctx.pool)] }
        }
    }
}
