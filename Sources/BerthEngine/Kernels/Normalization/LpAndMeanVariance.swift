import BerthONNX
import BerthTensor

/// LpNormalization: `x / ||x||_p` along one axis (p is 1 or 2). A zero norm leaves zeros.
private func normLpNorm(_ x: Tensor, axis: Int, p: Int) throws -> Tensor {
    guard let a = Shape.normalizeAxis(axis, rank: x.rank) else { throw KernelError("LpNormalization axis \(axis) is out of range for shape \(x.shape)") }
    let xs = try normFloats(x, "input")
    let outer = try Shape.elementCount(Array(x.shape[..<a])), len = x.shape[a]
    let inner = try Shape.elementCount(Array(x.shape[(a + 1)...]))
    var y = [Float](repeating: 0, count: xs.count)
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * len * inner + i
            var s: Float = 0
            for k in 0..<len { let v = xs[base + k * inner]; s += p == 1 ? abs(v) : v * v }
            let norm = p == 1 ? s : s.squareRoot()
            guard norm != 0 else { continue }
            for k in 0..<len { y[base + k * inner] = xs[base + k * inner] / norm }
        }
    }
    return normTensor(y, shape: x.shape, like: x.dtype)
}

/// MeanVarianceNormalization: `(x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9)` over `axes`,
/// as the operator's function body defines it. Statistics accumulate in Double.
private func normMeanVarianceNorm(_ x: Tensor, axes: [Int]) throws -> Tensor {
    var reduced = [Bool](repeating: false, count: x.rank)
    for ax in axes {
        guard let a = Shape.normalizeAxis(ax, rank: x.rank) else { throw KernelError("MeanVarianceNormalization axis \(ax) is out of range for shape \(x.shape)") }
        reduced[a] = true
    }
    let xs = try normFloats(x, "X")
    let keptShape = x.shape.enumerated().map { reduced[$0.offset] ? 1 : $0.element }
    let keptStrides = Shape.strides(keptShape)
    let strides = Shape.strides(x.shape)
    let keys = try Shape.elementCount(keptShape)
    // The stats slot of every element.
    var slot = [Int](repeating: 0, count: xs.count)
    for i in 0..<xs.count {
        var rem = i, k = 0
        for d in 0..<x.rank {
            let idx = rem / strides[d]
            rem -= idx * strides[d]
            if !reduced[d] { k += idx * keptStrides[d] }
        }
        slot[i] = k
    }
    var sum = [Double](repeating: 0, count: keys), sq = [Double](repeating: 0, count: keys), cnt = [Double](repeating: 0, count: keys)
    for i in 0..<xs.count { let v = Double(xs[i]); sum[slot[i]] += v; sq[slot[i]] += v * v; cnt[slot[i]] += 1 }
    var mean = [Double](repeating: 0, count: keys), denom = [Double](repeating: 1, count: keys)
    for k in 0..<keys where cnt[k] > 0 {
        mean[k] = sum[k] / cnt[k]
        denom[k] = max(0, sq[k] / cnt[k] - mean[k] * mean[k]).squareRoot() + 1e-9
    }
    let y = (0..<xs.count).map { Float((Double(xs[$0]) - mean[slot[$0]]) / denom[slot[$0]]) }
    return normTensor(y, shape: x.shape, like: x.dtype)
}

extension KernelRegistry {
    /// Registers LpNormalization and MeanVarianceNormalization.
    mutating func registerLpAndMeanVarianceKernels() {
        register("LpNormalization", opsets: 1...Int.max) { node, _ in
            let axis = try node.int("axis", default: -1)
            let p = try node.int("p", default: 2)
            guard p == 1 || p == 2 else { throw KernelError("LpNormalization p must be 1 or 2, got \(p)") }
            return { inputs, _ in [try normLpNorm(try inputs.required(0), axis: axis, p: p)] }
        }
        register("MeanVarianceNormalization", opsets: 9...Int.max) { node, _ in
            let axes = try node.ints("axes") ?? [0, 2, 3]
            return { inputs, _ in [try normMeanVarianceNorm(try inputs.required(0), axes: axes)] }
        }
    }
}
