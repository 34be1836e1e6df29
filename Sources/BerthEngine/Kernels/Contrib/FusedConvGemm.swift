import BerthONNX
import BerthTensor
import Foundation

/// The activation ORT's optimizer folds into FusedConv and FusedGemm.
struct ContribActivation: Sendable {
    enum Kind: String, Sendable { case identity, Relu, Tanh, Sigmoid, LeakyRelu, Clip, HardSigmoid }
    let kind: Kind
    let a: Float, b: Float

    /// From FusedConv's `activation` + `activation_params`, or FusedGemm's `activation` +
    /// `activation_alpha` / `activation_beta`.
    init(_ node: Node) throws {
        let name = try node.string("activation", default: "identity")
        guard let k = Kind(rawValue: name) else { throw KernelError("\(node.opType) activation '\(name)' is not supported") }
        kind = k
        if case let .floats(p)? = node.attributes["activation_params"] {
            let want = k == .LeakyRelu ? 1 : (k == .Clip || k == .HardSigmoid ? 2 : 0)
            guard p.count >= want else { throw KernelError("\(node.opType) activation \(name) needs \(want) activation_params, got \(p.count)") }
            a = p.first ?? 0
            b = p.count > 1 ? p[1] : 0
        } else {
            guard k != .Clip else { throw KernelError("\(node.opType) activation Clip needs activation_params [min, max]") }
            a = try node.float("activation_alpha", default: k == .LeakyRelu ? 0.01 : 0.2)
            b = try node.float("activation_beta", default: 0.5)
        }
    }

    func apply(_ v: inout [Float]) {
        switch kind {
        case .identity: return
        case .Relu: for i in v.indices { v[i] = max(v[i], 0) }
        case .Tanh: for i in v.indices { v[i] = tanh(v[i]) }
        case .Sigmoid: for i in v.indices { v[i] = 1 / (1 + exp(-v[i])) }
        case .LeakyRelu: for i in v.indices where v[i] < 0 { v[i] *= a }
        case .Clip: for i in v.indices { v[i] = min(max(v[i], a), b) }
        case .HardSigmoid: for i in v.indices { v[i] = min(max(a * v[i] + b, 0), 1) }
        }
    }
}

extension KernelRegistry {
    /// FusedConv (Conv + optional sum input Z + activation) and FusedGemm (Gemm + activation),
    /// which ORT's graph optimizer writes into the models it saves. The convolution and the
    /// product are the standard Conv and Gemm kernels; the activation runs on their output.
    mutating func registerContribFusedConvGemm() {
        let gemm = factory(domain: "", op: "Gemm", opset: 13)
        let activationKeys: Set<String> = ["activation", "activation_params", "activation_alpha", "activation_beta", "activation_gamma"]
        func plain(_ node: Node, _ op: String, inputs: Int) -> Node {
            var n = node
            n.domain = ""
            n.opType = op
            n.inputs = Array(node.inputs.prefix(inputs))
            n.attributes = node.attributes.filter { !activationKeys.contains($0.key) }
            return n
        }
        register("FusedConv", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let act = try ContribActivation(node)
            let attrs = try NNConvAttributes(node: plain(node, "Conv", inputs: 3))
            let cache = ConvBackendCache()
            return { inputs, ctx in
                let x = try inputs.required(0), w = try inputs.required(1)
                let z = inputs.optional(3)
                if let z {
                    let want = try attrs.shapes(x: x.shape, w: w.shape, op: "FusedConv").outShape
                    guard z.shape == want else { throw KernelError("FusedConv Z must have the output's shape \(want), got \(z.shape)") }
                }
                return [try nnConvFused(x: x, w: w, bias: inputs.optional(2), z: z, epilogue: ConvEpilogue(activation: act),
                                        attrs: attrs, cache: cache, pool: ctx.pool)]
            }
        }
        register("FusedGemm", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            guard let gemm else { throw KernelError("no Gemm kernel registered") }
            let act = try ContribActivation(node)
            let kernel = try gemm(plain(node, "Gemm", inputs: 3), 13)
            return { inputs, ctx in
                let y = try kernel(inputs, ctx)[0]
                var v = try contribFloats(y, "FusedGemm output")
                act.apply(&v)
                return [Tensor(unchecked: y.shape, storage: .float32(v))]
            }
        }
    }
}
