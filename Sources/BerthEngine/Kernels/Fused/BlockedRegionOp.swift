import BerthONNX
import Foundation

/// What one node of a blocked-layout region does on oneDNN (see ``BlockedLayoutPass``).
enum BlockedRegionOp: Sendable {
    /// Conv or FusedConv: inputs X, W, B?, Z? (residual), then the activation.
    case conv(NNConvAttributes, ContribActivation?)
    /// MaxPool / AveragePool over two spatial axes.
    case pool(BlockedPoolKind, NNWindowAttributes)
    case globalAveragePool
    /// An activation; Clip's bounds may come from inputs 1 and 2 (read per call).
    case eltwise(BlockedEltwiseKind)
    /// Add of two tensors of the same shape (another shape runs on Berth's Add).
    case add
    /// Concat along the channel axis.
    case concat
    /// Inference BatchNormalization (scale, bias, mean and variance constant).
    case batchNorm(epsilon: Float)
    /// A fused 8-bit convolution (`QuantizedConv`), quantizing its input in the region's layout.
    case quantizedConv(BlockedInt8Conv)
    /// A QuantizeLinear → DequantizeLinear pair (`FakeQuantize`), element-wise on the region's layout.
    case fakeQuantize

    init?(_ n: Node) {
        func convAttrs(_ node: Node) -> NNConvAttributes? {
            var plain = node
            plain.attributes = node.attributes.filter { !$0.key.hasPrefix("activation") }
            return try? NNConvAttributes(node: plain)
        }
        if n.isOp("Conv"), let a = convAttrs(n) {
            self = .conv(a, nil)
        } else if n.opType == "FusedConv", n.domain == FusedOps.domain, let a = convAttrs(n), let act = try? ContribActivation(n) {
            self = .conv(a, act)
        } else if let q = BlockedInt8Conv(n) {
            self = .quantizedConv(q)
        } else if n.opType == "FakeQuantize", n.domain == FusedOps.domain {
            self = .fakeQuantize
        } else if n.isOp("MaxPool"), n.outputs.count == 1 || n.outputs[1].isEmpty, let w = try? NNWindowAttributes(node: n),
                  w.kernelShape?.count == 2 {
            self = .pool(.max, w)
        } else if n.isOp("AveragePool"), let w = try? NNWindowAttributes(node: n), w.kernelShape?.count == 2,
                  let include = try? n.int("count_include_pad", default: 0) {
            // ceil_mode with counted padding divides by windows that oneDNN's padding would not match.
            if include != 0 && w.ceilMode { return nil }
            self = .pool(include != 0 ? .averageIncludingPadding : .averageExcludingPadding, w)
        } else if n.isOp("GlobalAveragePool") {
            self = .globalAveragePool
        } else if n.isOp("Relu") {
            self = .eltwise(.relu)
        } else if n.isOp("LeakyRelu"), let a = try? n.float("alpha", default: 0.01) {
            self = .eltwise(.leakyRelu(a))
        } else if n.isOp("Sigmoid") {
            self = .eltwise(.sigmoid)
        } else if n.isOp("Tanh") {
            self = .eltwise(.tanh)
        } else if n.isOp("Clip") {
            guard let lo = try? n.float("min", default: -.infinity), let hi = try? n.float("max", default: .infinity) else { return nil }
            self = .eltwise(.clip(lo: lo, hi: hi))
        } else if n.isOp("Add"), n.inputs.count == 2 {
            self = .add
        } else if n.isOp("Concat"), (try? n.int("axis")) == 1 {
            self = .concat
        } else if n.isOp("BatchNormalization"), n.inputs.count == 5, n.outputs.dropFirst().allSatisfy(\.isEmpty),
                  (try? n.int("training_mode", default: 0)) == 0, (try? n.int("spatial", default: 1)) == 1,
                  let eps = try? n.float("epsilon", default: 1e-5) {
            self = .batchNorm(epsilon: eps)
        } else {
            return nil
        }
    }

    /// True for a node a region may hold: an op above, with the constants oneDNN needs known
    /// at load (convolution weights and bias, Clip bounds). Shapes are checked per call.
    static func isCapable(_ n: Node, _ g: Graph) -> Bool {
        guard let op = BlockedRegionOp(n) else { return false }
        switch op {
        case .conv:
            guard n.inputs.count >= 2, let w = g.initializers[n.inputs[1]], w.dtype == .float32, w.rank == 4 else { return false }
            if n.inputs.count > 2, !n.inputs[2].isEmpty, g.initializers[n.inputs[2]]?.dtype != .float32 { return false }
            return true
        case .batchNorm:
            // BERTH_DNNL_REGION_BN=0 leaves it to Berth's kernel, splitting the region (A/B measurements).
            guard ProcessInfo.processInfo.environment["BERTH_DNNL_REGION_BN"] != "0" else { return false }
            return n.inputs.dropFirst().allSatisfy { g.initializers[$0]?.dtype == .float32 && g.initializers[$0]?.rank == 1 }
        case .quantizedConv:
            return BlockedInt8Conv.isCapable(n, g)
        case .fakeQuantize:
            return FakeQuantize.isCapable(n, g)
        case .eltwise(.clip):
            return n.inputs.dropFirst().allSatisfy { $0.isEmpty || (g.initializers[$0]?.dtype == .float32 && g.scalarConstant($0) != nil) }
        default:
            return true
        }
    }

    /// True for Conv and FusedConv: a region earns its reorders only around a convolution.
    /// True for a float convolution (Conv, FusedConv), not a quantized one.
    static func isFloatConvolution(_ n: Node) -> Bool {
        if case .conv? = BlockedRegionOp(n) { return true }
        return false
    }

    static func isConvolution(_ n: Node) -> Bool {
        switch BlockedRegionOp(n) {
        case .conv?, .quantizedConv?: return true
        default: return false
        }
    }
}

/// How a pooling window reduces.
enum BlockedPoolKind: Hashable, Sendable { case max, averageIncludingPadding, averageExcludingPadding }

/// The activations a region runs as oneDNN element-wise primitives.
enum BlockedEltwiseKind: Hashable, Sendable {
    case relu, sigmoid, tanh
    case leakyRelu(Float)
    /// Bounds from the attributes (opset < 11); inputs 1 and 2 override them (opset 11+).
    case clip(lo: Float, hi: Float)
}
