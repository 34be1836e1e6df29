import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// GroupNormalization: X [N, C, ...] normalized over each group of C / num_groups channels
    /// and the spatial dims, then scaled and shifted. Opset 18 takes scale and bias per group,
    /// 21 per channel (the changed meaning is why the ranges are closed). Computed in Double.
    mutating func registerGroupNormalizationKernels() {
        register("GroupNormalization", opsets: 18...20) { node, _ in try groupNormalization(node, perChannel: false) }
        register("GroupNormalization", opsets: 21...Int.max) { node, _ in try groupNormalization(node, perChannel: true) }
    }
}

private func groupNormalization(_ node: Node, perChannel: Bool) throws -> Kernel {
    let epsilon = Double(try node.float("epsilon", default: 1e-5))
    let groups = try node.int("num_groups")
    guard groups > 0 else { throw KernelError("GroupNormalization num_groups must be positive, got \(groups)") }
    return { inputs, _ in
        let x = try inputs.required(0), scale = try inputs.required(1), bias = try inputs.required(2)
        guard x.dtype.isFloatingPoint, x.rank >= 2 else { throw KernelError("GroupNormalization X must be floating point [N, C, ...], got \(x.dtype)\(x.shape)") }
        let (n, c) = (x.shape[0], x.shape[1])
        guard c % groups == 0 else { throw KernelError("GroupNormalization: \(c) channels do not divide into \(groups) groups") }
        let want = perChannel ? c : groups
        guard scale.count == want, bias.count == want, scale.rank == 1, bias.rank == 1 else {
            throw KernelError("GroupNormalization scale and bias must be [\(want)], got \(scale.shape) and \(bias.shape)")
        }
        let spatial = x.shape[2...].reduce(1, *)
        let perGroup = c / groups
        let v = x.doubles, s = scale.doubles, b = bias.doubles
        var out = [Double](repeating: 0, count: v.count)
        for i in 0..<n {
            for g in 0..<groups {
                let start = (i * c + g * perGroup) * spatial, len = perGroup * spatial
                guard len > 0 else { continue }
                var mean = 0.0
                for k in start..<(start + len) { mean += v[k] }
                mean /= Double(len)
                var variance = 0.0
                for k in start..<(start + len) { variance += (v[k] - mean) * (v[k] - mean) }
                let inv = 1 / (variance / Double(len) + epsilon).squareRoot()
                for ch in 0..<perGroup {
                    let channel = g * perGroup + ch
                    let (sc, bi) = perChannel ? (s[channel], b[channel]) : (s[g], b[g])
                    let base = (i * c + channel) * spatial
                    for k in base..<(base + spatial) { out[k] = (v[k] - mean) * inv * sc + bi }
                }
            }
        }
        return [try doublesTensor(out, shape: x.shape, dtype: x.dtype)]
    }
}
