import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// SkipLayerNormalization: s = input + skip (+ bias), normalized over the last axis, times
    /// gamma (+ beta). Input [..., H] (ORT: [B, S, H] or [T, H]); skip as the input, or a
    /// broadcast of its trailing dims ([S, H], [1, S, H]); gamma, beta, bias [H]. Outputs:
    /// output, mean and inv_std_var ([..., 1]), and s. `epsilon` defaults to 1e-12 as in ORT.
    /// SkipSimplifiedLayerNormalization is the same with RMS normalization (no centring, no
    /// beta): s / √(mean(s²) + ε) · gamma; its inputs are input, skip, gamma, bias and its
    /// outputs output, mean (unused), inv_std_var, s.
    mutating func registerContribSkipLayerNormalization() {
        register("SkipLayerNormalization", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            try skipLayerNormalization(node, simplified: false)
        }
        register("SkipSimplifiedLayerNormalization", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            try skipLayerNormalization(node, simplified: true)
        }
    }
}

private func skipLayerNormalization(_ node: Node, simplified: Bool) throws -> Kernel {
    let epsilon = Double(try node.float("epsilon", default: 1e-12))
    return { inputs, _ in
        let x = try inputs.required(0), skip = try inputs.required(1), gamma = try inputs.required(2)
        guard x.rank >= 2, let h = x.shape.last, h > 0 else {
            throw KernelError("SkipLayerNormalization input must be [..., hidden] with hidden > 0, got \(x.shape)")
        }
        let xv = try contribFloats(x, "input"), sv = try contribFloats(skip, "skip")
        guard skip.rank >= 1, skip.rank <= x.rank, skip.shape.last == h, !sv.isEmpty,
              Array(x.shape.suffix(skip.rank)).elementsEqual(skip.shape) || (skip.shape.first == 1 && Array(x.shape.suffix(skip.rank - 1)).elementsEqual(skip.shape.dropFirst())),
              xv.count % sv.count == 0 else {
            throw KernelError("SkipLayerNormalization skip shape \(skip.shape) does not broadcast to input shape \(x.shape)")
        }
        func vector(_ t: Tensor?, _ what: String) throws -> [Float]? {
            guard let t else { return nil }
            let v = try contribFloats(t, what)
            guard v.count == h, t.rank == 1 else { throw KernelError("SkipLayerNormalization \(what) must be [\(h)], got \(t.shape)") }
            return v
        }
        let g = try vector(gamma, "gamma")!
        let beta = simplified ? nil : try vector(inputs.optional(3), "beta")
        let bias = try vector(inputs.optional(simplified ? 3 : 4), "bias")
        let rows = xv.count / h
        var out = [Float](repeating: 0, count: xv.count), sum = out
        var means = [Float](repeating: 0, count: rows), invStd = means
        for r in 0..<rows {
            let base = r * h
            var mean = 0.0
            for j in 0..<h {
                var s = xv[base + j] + sv[(base + j) % sv.count]
                if let bias { s += bias[j] }
                sum[base + j] = s
                mean += Double(s)
            }
            mean = simplified ? 0 : mean / Double(h)
            var variance = 0.0
            for j in 0..<h { let d = Double(sum[base + j]) - mean; variance += d * d }
            let inv = 1 / (variance / Double(h) + epsilon).squareRoot()
            for j in 0..<h {
                var y = Float((Double(sum[base + j]) - mean) * inv) * g[j]
                if let beta { y += beta[j] }
                out[base + j] = y
            }
            means[r] = Float(mean)
            invStd[r] = Float(inv)
        }
        let statShape = Array(x.shape.dropLast()) + [1]
        return [Tensor(unchecked: x.shape, storage: .float32(out)), Tensor(unchecked: statShape, storage: .float32(means)),
                Tensor(unchecked: statShape, storage: .float32(invStd)), Tensor(unchecked: x.shape, storage: .float32(sum))]
    }
}
