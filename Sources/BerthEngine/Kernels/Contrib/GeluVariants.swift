import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// Gelu, BiasGelu, FastGelu and QuickGelu. Gelu is exact (erf); BiasGelu is Gelu(A + B) with B of
    /// A's last dimension; FastGelu is the tanh approximation
    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) of X (+ bias).
    mutating func registerContribGelus() {
        register("Gelu", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            { inputs, _ in [try contribGelu(try inputs.required(0), bias: nil, fast: false, op: "Gelu")] }
        }
        register("BiasGelu", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            { inputs, _ in [try contribGelu(try inputs.required(0), bias: try inputs.required(1), fast: false, op: "BiasGelu")] }
        }
        register("FastGelu", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            { inputs, _ in [try contribGelu(try inputs.required(0), bias: inputs.optional(1), fast: true, op: "FastGelu")] }
        }
        // QuickGelu: x · sigmoid(alpha · x), alpha 1.702 by default.
        register("QuickGelu", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let alpha = try node.float("alpha", default: 1.702)
            return { inputs, _ in
                let x = try inputs.required(0)
                let v = try contribFloats(x, "QuickGelu input").map { $0 / (1 + exp(-alpha * $0)) }
                return [Tensor(unchecked: x.shape, storage: .float32(v))]
            }
        }
    }
}

/// x (+ bias along the last axis), then exact or tanh-approximated Gelu, in float.
func contribGelu(_ x: Tensor, bias: Tensor?, fast: Bool, op: String) throws -> Tensor {
    var v = try contribFloats(x, "\(op) input")
    if let bias {
        let b = try contribFloats(bias, "\(op) bias")
        guard bias.rank == 1, let last = x.shape.last, b.count == last else {
            throw KernelError("\(op) bias must be 1-D of the input's last dimension, got \(bias.shape) for \(x.shape)")
        }
        if !b.isEmpty { for i in v.indices { v[i] += b[i % b.count] } }
    }
    if fast {
        let c: Float = 0.797_884_56  // √(2/π)
        for i in v.indices { let t = v[i]; v[i] = 0.5 * t * (1 + tanh(c * (t + 0.044715 * t * t * t))) }
    } else {
        for i in v.indices { let t = v[i]; v[i] = 0.5 * t * (1 + erf(t * 0.707_106_78)) }
    }
    return Tensor(unchecked: x.shape, storage: .float32(v))
}
