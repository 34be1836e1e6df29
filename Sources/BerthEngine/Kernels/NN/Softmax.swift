import BerthONNX
import BerthTensor
import Foundation

// Softmax and LogSoftmax on an [outer, axis, inner] view of the input. Opset < 13 flattens the
// input to 2-D at `axis` (so inner is 1 and the axis block is everything from `axis` on);
// opset >= 13 normalises along the single axis `axis`.

/// The [outer, axis, inner] split of `shape` for the opset's semantics.
func nnSoftmaxView(_ shape: [Int], axis: Int, flatten: Bool, op: String) throws -> (outer: Int, len: Int, inner: Int) {
    let rank = max(shape.count, 1)
    let dims = shape.isEmpty ? [1] : shape
    guard let a = Shape.normalizeAxis(axis, rank: rank) else { throw KernelError("\(op) axis \(axis) is out of range for shape \(shape)") }
    let outer = try Shape.elementCount(Array(dims[..<a]))
    if flatten { return (outer, try Shape.elementCount(Array(dims[a...])), 1) }
    return (outer, dims[a], try Shape.elementCount(Array(dims[(a + 1)...])))
}

/// Float32 softmax / log-softmax; rows (inner == 1) take the vectorised single-row path.
private func nnSoftmaxFloat(_ x: [Float], outer: Int, len: Int, inner: Int, log: Bool, pool: ThreadPool) -> [Float] {
    let total = x.count
    return [Float](unsafeUninitializedCapacity: total) { yb, n in
        n = total
        guard total > 0, len > 0 else { return }
        x.withUnsafeBufferPointer { xb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            if inner == 1 {
                pool.parallelFor(outer, minChunk: max(1, 8192 / len)) { range in
                    for r in range {
                        let src = xp + r * len, dst = yp + r * len
                        if log {
                            // (x - max) - log(sum) keeps precision when max is large.
                            let m = nnMax(src, count: len)
                            let l = Foundation.log(nnExpShiftedSumOnly(src, count: len, shift: m))
                            for i in 0..<len { dst[i] = (src[i] - m) - l }
                        } else {
                            nnSoftmaxRow(src, dst, count: len)
                        }
                    }
                }
                return
            }
            let block = len * inner
            pool.parallelFor(outer, minChunk: max(1, 8192 / block)) { range in
                var maxes = [Float](repeating: 0, count: inner)
                var sums = [Float](repeating: 0, count: inner)
                maxes.withUnsafeMutableBufferPointer { mb in
                    sums.withUnsafeMutableBufferPointer { sb in
                        let mp = mb.baseAddress!, sp = sb.baseAddress!
                        for r in range {
                            let src = xp + r * block, dst = yp + r * block
                            mp.update(from: src, count: inner)
                            for a in 1..<max(1, len) {
                                let row = src + a * inner
                                for i in 0..<inner { mp[i] = Swift.max(mp[i], row[i]) }
                            }
                            for a in 0..<len {
                                let row = src + a * inner, out = dst + a * inner
                                for i in 0..<inner { out[i] = row[i] - mp[i] }
                            }
                            let shifted = UnsafeMutablePointer<Float>.allocate(capacity: log ? block : 0)
                            defer { shifted.deallocate() }
                            if log { shifted.update(from: dst, count: block) }
                            _ = nnExpShiftedSum(dst, dst, count: block, shift: 0)
                            sp.update(repeating: 0, count: inner)
                            for a in 0..<len {
                                let out = dst + a * inner
                                for i in 0..<inner { sp[i] += out[i] }
                            }
                            if log {
                                for i in 0..<inner { sp[i] = Foundation.log(sp[i]) }
                                for a in 0..<len {
                                    let s = shifted + a * inner, out = dst + a * inner
                                    for i in 0..<inner { out[i] = s[i] - sp[i] }
                                }
                            } else {
                                for i in 0..<inner { sp[i] = 1 / sp[i] }
                                for a in 0..<len {
                                    let out = dst + a * inner
                                    for i in 0..<inner { out[i] *= sp[i] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Double-precision reference path (scalar libm exp).
private func nnSoftmaxDouble(_ x: [Double], outer: Int, len: Int, inner: Int, log: Bool) -> [Double] {
    var y = [Double](repeating: 0, count: x.count)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * len * inner + i
            var m = -Double.infinity
            for a in 0..<len { m = max(m, x[base + a * inner]) }
            var s = 0.0
            for a in 0..<len { let e = exp(x[base + a * inner] - m); y[base + a * inner] = e; s += e }
            for a in 0..<len {
                let at = base + a * inner
                y[at] = log ? (x[at] - m) - Foundation.log(s) : y[at] / s
            }
        }
    }
    return y
}

private func nnSoftmaxTensor(_ x: Tensor, axis: Int, flatten: Bool, log: Bool, pool: ThreadPool) throws -> Tensor {
    let op = log ? "LogSoftmax" : "Softmax"
    let v = try nnSoftmaxView(x.shape, axis: axis, flatten: flatten, op: op)
    switch x.storage {
    case let .float32(a):
        return Tensor(unchecked: x.shape, storage: .float32(nnSoftmaxFloat(a, outer: v.outer, len: v.len, inner: v.inner, log: log, pool: pool)))
    case let .float64(a):
        return Tensor(unchecked: x.shape, storage: .float64(nnSoftmaxDouble(a, outer: v.outer, len: v.len, inner: v.inner, log: log)))
    case let .float16(a):
        let r = nnSoftmaxFloat(a.map { Float($0) }, outer: v.outer, len: v.len, inner: v.inner, log: log, pool: pool)
        return Tensor(unchecked: x.shape, storage: .float16(r.map { Float16($0) }))
    default:
        throw KernelError("\(op) expects a floating-point input, got \(x.dtype)")
    }
}

extension KernelRegistry {
    /// Registers Softmax and LogSoftmax: opsets 1-12 flatten at `axis` (default 1), opset 13+
    /// works along `axis` (default -1).
    mutating func registerSoftmaxKernels() {
        for (op, log) in [("Softmax", false), ("LogSoftmax", true)] {
            register(op, opsets: 1...12) { node, _ in
                let axis = try node.int("axis", default: 1)
                return { inputs, ctx in [try nnSoftmaxTensor(try inputs.required(0), axis: axis, flatten: true, log: log, pool: ctx.pool)] }
            }
            register(op, opsets: 13...Int.max) { node, _ in
                let axis = try node.int("axis", default: -1)
                return { inputs, ctx in [try nnSoftmaxTensor(try inputs.required(0), axis: axis, flatten: false, log: log, pool: ctx.pool)] }
            }
        }
    }
}
