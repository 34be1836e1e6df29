import BerthONNX
import BerthTensor
import Foundation

/// The `ai.onnx.preview.training` optimizers: one update step of Adagrad, Adam or Momentum over
/// n tensors. Inputs R (learning rate), T (update count), then X1…Xn, G1…Gn and the state
/// tensors (H for Adagrad; V for Momentum; V then H for Adam); outputs the new X's then the new
/// states, in the same grouping. Pure element-wise arithmetic, computed in Double.
enum TrainingOps {
    static let domain = "ai.onnx.preview.training"
}

extension KernelRegistry {
    mutating func registerTrainingKernels() {
        register("Adagrad", domain: TrainingOps.domain, opsets: 1...1) { node, _ in
            let decay = Double(try node.float("decay_factor", default: 0)), eps = Double(try node.float("epsilon", default: 1e-6))
            let norm = Double(try node.float("norm_coefficient", default: 0))
            return { inputs, _ in
                try optimizerStep(inputs, states: 1, op: "Adagrad") { r, t, x, g, s in
                    let rate = r / (1 + Double(t) * decay)
                    let gr = norm * x + g
                    let h = s[0] + gr * gr
                    return (x - rate * gr / (h.squareRoot() + eps), [h])
                }
            }
        }
        register("Momentum", domain: TrainingOps.domain, opsets: 1...1) { node, _ in
            for key in ["alpha", "beta", "mode", "norm_coefficient"] where node.attributes[key] == nil {
                throw KernelError("Momentum needs the attribute '\(key)'")
            }
            let alpha = Double(try node.float("alpha", default: 0)), beta = Double(try node.float("beta", default: 0))
            let norm = Double(try node.float("norm_coefficient", default: 0))
            let mode = try node.string("mode", default: "standard")
            guard mode == "standard" || mode == "nesterov" else { throw KernelError("Momentum mode must be standard or nesterov, got '\(mode)'") }
            return { inputs, _ in
                try optimizerStep(inputs, states: 1, op: "Momentum") { r, t, x, g, s in
                    let gr = norm * x + g
                    let v = alpha * s[0] + (t > 0 ? beta : 1) * gr
                    return (mode == "nesterov" ? x - r * (gr + alpha * v) : x - r * v, [v])
                }
            }
        }
        register("Adam", domain: TrainingOps.domain, opsets: 1...1) { node, _ in
            let alpha = Double(try node.float("alpha", default: 0.9)), beta = Double(try node.float("beta", default: 0.999))
            let eps = Double(try node.float("epsilon", default: 1e-6))
            let norm = Double(try node.float("norm_coefficient", default: 0)), post = Double(try node.float("norm_coefficient_post", default: 0))
            return { inputs, _ in
                try optimizerStep(inputs, states: 2, op: "Adam") { r, t, x, g, s in
                    let gr = norm * x + g
                    let v = alpha * s[0] + (1 - alpha) * gr
                    let h = beta * s[1] + (1 - beta) * gr * gr
                    let rate = t > 0 ? r * (1 - pow(beta, Double(t))).squareRoot() / (1 - pow(alpha, Double(t))) : r
                    return ((1 - post) * (x - rate * v / (h.squareRoot() + eps)), [v, h])
                }
            }
        }
    }
}

/// Applies `update` (r, t, x, g, states) → (new x, new states) element-wise to each of the n
/// tensor groups in `inputs`; returns the new X's, then each state kind's new tensors.
private func optimizerStep(_ inputs: [Tensor?], states: Int, op: String,
                           _ update: (Double, Int, Double, Double, [Double]) -> (Double, [Double])) throws -> [Tensor] {
    let rest = inputs.count - 2
    guard rest > 0, rest % (2 + states) == 0 else {
        throw KernelError("\(op) takes R, T and \(2 + states) tensors per optimized tensor, got \(inputs.count) inputs")
    }
    let n = rest / (2 + states)
    let r = try inputs.required(0), t = try inputs.required(1)
    guard r.count == 1, r.dtype.isFloatingPoint, t.count == 1, t.dtype == .int64 else {
        throw KernelError("\(op) R must be a float scalar and T an int64 scalar, got \(r.dtype)\(r.shape) and \(t.dtype)\(t.shape)")
    }
    let rate = r.storage.double(at: 0), step = try t.integers()[0]
    var newX: [Tensor] = [], newStates = [[Tensor]](repeating: [], count: states)
    for i in 0..<n {
        let x = try inputs.required(2 + i), g = try inputs.required(2 + n + i)
        let s = try (0..<states).map { try inputs.required(2 + (2 + $0) * n + i) }
        for other in [g] + s where other.shape != x.shape || other.dtype != x.dtype {
            throw KernelError("\(op) tensor \(i): \(other.dtype)\(other.shape) does not match X \(x.dtype)\(x.shape)")
        }
        guard x.dtype == .float32 || x.dtype == .float64 else { throw KernelError("\(op) tensors must be float or double, got \(x.dtype)") }
        let xv = x.doubles, gv = g.doubles, sv = s.map(\.doubles)
        var outX = [Double](repeating: 0, count: x.count), outS = [[Double]](repeating: outX, count: states)
        for e in 0..<x.count {
            let (nx, ns) = update(rate, step, xv[e], gv[e], sv.map { $0[e] })
            outX[e] = nx
            for k in 0..<states { outS[k][e] = ns[k] }
        }
        func tensor(_ v: [Double]) -> Tensor {
            Tensor(unchecked: x.shape, storage: x.dtype == .float64 ? .float64(v) : .float32(v.map { Float($0) }))
        }
        newX.append(tensor(outX))
        for k in 0..<states { newStates[k].append(tensor(outS[k])) }
    }
    return newX + newStates.flatMap { $0 }
}
