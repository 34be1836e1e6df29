import BerthONNX
import BerthTensor
import Foundation

/// A per-tensor 8-bit quantization: scale and zero point, with the zero point's type.
private struct QParams {
    let scale: Float, zero: Float, dtype: DType

    init(_ scale: Tensor, _ zero: Tensor?, like x: DType?, _ what: String) throws {
        guard scale.count == 1, scale.dtype == .float32 else { throw KernelError("\(what) scale must be a float scalar, got \(scale.dtype)\(scale.shape)") }
        self.scale = scale.floats[0]
        guard self.scale > 0, self.scale.isFinite else { throw KernelError("\(what) scale must be positive, got \(self.scale)") }
        if let zero {
            guard zero.count == 1, zero.dtype == .uint8 || zero.dtype == .int8 else {
                throw KernelError("\(what) zero point must be a uint8 or int8 scalar, got \(zero.dtype)\(zero.shape)")
            }
            self.zero = Float(try zero.integers()[0])
            dtype = zero.dtype
        } else {
            self.zero = 0
            dtype = x ?? .uint8
        }
    }

    /// The values minus the zero point (in units of the scale).
    func shifted(_ t: Tensor, _ what: String) throws -> [Float] {
        guard t.dtype == dtype else { throw KernelError("\(what) is \(t.dtype); its zero point is \(dtype)") }
        return try t.integers().map { Float($0) - zero }
    }

    func dequantize(_ t: Tensor, _ what: String) throws -> [Float] {
        try shifted(t, what).map { $0 * scale }
    }

    /// Round half to even and saturate, as QuantizeLinear.
    func quantize(_ v: [Float], shape: [Int]) -> Tensor {
        requantize(v.map { $0 / scale }, shape: shape)
    }

    /// `v` already in units of the scale: round half to even, add the zero point, saturate.
    /// With `zeroFirst` the zero point is added before rounding, as ORT's QLinearAdd and
    /// QLinearMul do (ties then go to the even quantized value, not the even offset).
    func requantize(_ v: [Float], shape: [Int], zeroFirst: Bool = false) -> Tensor {
        let (lo, hi): (Float, Float) = dtype == .int8 ? (-128, 127) : (0, 255)
        let q = v.map { min(max(zeroFirst ? ($0 + zero).rounded(.toNearestOrEven) : $0.rounded(.toNearestOrEven) + zero, lo), hi) }
        return dtype == .int8 ? Tensor(unchecked: shape, storage: .int8(q.map { Int8($0) }))
            : Tensor(unchecked: shape, storage: .uint8(q.map { UInt8($0) }))
    }
}

extension KernelRegistry {
    /// The QOperator-format ops of ORT's quantization tool: QLinearAdd, QLinearMul (broadcasting),
    /// QLinearSigmoid, QLinearLeakyRelu, QLinearGlobalAveragePool and QLinearConcat. Each
    /// dequantizes its per-tensor 8-bit inputs, computes in float and requantizes (round half
    /// to even, saturating), rounding where ONNX Runtime's kernels round.
    mutating func registerContribQLinearOps() {
        for op in ["QLinearAdd", "QLinearMul"] {
            register(op, domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
                { inputs, _ in
                    let a = try inputs.required(0), b = try inputs.required(3)
                    let pa = try QParams(try inputs.required(1), inputs.optional(2), like: a.dtype, "\(op) A")
                    let pb = try QParams(try inputs.required(4), inputs.optional(5), like: b.dtype, "\(op) B")
                    let pc = try QParams(try inputs.required(6), inputs.optional(7), like: a.dtype, "\(op) C")
                    let shape = try Broadcast.shape([a.shape, b.shape])
                    _ = try TensorFamily.count(shape)
                    // In C's units with ORT's multipliers: (a - za)·(sa/sc) + (b - zb)·(sb/sc) for Add,
                    // (a - za)·(b - zb)·(sa·sb/sc) for Mul, so roundings agree with ONNX Runtime's.
                    let x = try Broadcast.expand(try pa.shifted(a, "\(op) A"), from: a.shape, to: shape)
                    let y = try Broadcast.expand(try pb.shifted(b, "\(op) B"), from: b.shape, to: shape)
                    let v: [Float]
                    if op == "QLinearAdd" {
                        let (ra, rb) = (pa.scale / pc.scale, pb.scale / pc.scale)
                        v = zip(x, y).map { $0 * ra + $1 * rb }
                    } else {
                        let r = pa.scale * pb.scale / pc.scale
                        v = zip(x, y).map { $0 * $1 * r }
                    }
                    return [pc.requantize(v, shape: shape, zeroFirst: true)]
                }
            }
        }
        register("QLinearSigmoid", domain: ContribOps.domain, opsets: ContribOps.opsets) { _, _ in
            { inputs, _ in try qlinearUnary(inputs, "QLinearSigmoid") { 1 / (1 + exp(-$0)) } }
        }
        register("QLinearLeakyRelu", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let alpha = try node.float("alpha", default: 0.01)
            return { inputs, _ in try qlinearUnary(inputs, "QLinearLeakyRelu") { $0 >= 0 ? $0 : alpha * $0 } }
        }
        register("QLinearGlobalAveragePool", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let channelsLast = try node.int("channels_last", default: 0) != 0
            return { inputs, _ in
                let x = try inputs.required(0)
                let px = try QParams(try inputs.required(1), inputs.optional(2), like: x.dtype, "QLinearGlobalAveragePool X")
                let py = try QParams(try inputs.required(3), inputs.optional(4), like: x.dtype, "QLinearGlobalAveragePool Y")
                guard x.rank >= 3 else { throw KernelError("QLinearGlobalAveragePool input must be [N, C, ...], got \(x.shape)") }
                let v = try px.dequantize(x, "QLinearGlobalAveragePool X")
                let n = x.shape[0], c = channelsLast ? x.shape[x.rank - 1] : x.shape[1]
                let spatial = v.count / max(1, n * c)
                var out = [Float](repeating: 0, count: n * c)
                for i in 0..<n {
                    for ch in 0..<c {
                        var s: Float = 0
                        for p in 0..<spatial { s += channelsLast ? v[(i * spatial + p) * c + ch] : v[(i * c + ch) * spatial + p] }
                        out[i * c + ch] = spatial == 0 ? 0 : s / Float(spatial)
                    }
                }
                let ones = [Int](repeating: 1, count: x.rank - 2)
                return [py.quantize(out, shape: channelsLast ? [n] + ones + [c] : [n, c] + ones)]
            }
        }
        register("QLinearConcat", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let axis = try node.int("axis")
            return { inputs, ctx in
                // Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input.
                guard inputs.count >= 5, (inputs.count - 2) % 3 == 0 else {
                    throw KernelError("QLinearConcat takes Y_scale, Y_zero_point and triples (X, scale, zero point), got \(inputs.count) inputs")
                }
                let first = try inputs.required(2)
                let py = try QParams(try inputs.required(0), inputs.optional(1), like: first.dtype, "QLinearConcat Y")
                var parts: [Tensor] = []
                for k in stride(from: 2, to: inputs.count, by: 3) {
                    let x = try inputs.required(k)
                    let p = try QParams(try inputs.required(k + 1), inputs.optional(k + 2), like: x.dtype, "QLinearConcat input \((k - 2) / 3)")
                    parts.append(Tensor(unchecked: x.shape, storage: .float32(try p.dequantize(x, "QLinearConcat input \((k - 2) / 3)"))))
                }
                let joined = try TensorFamily.concat(parts, axis: axis, pool: ctx.pool)
                return [py.quantize(joined.floats, shape: joined.shape)]
            }
        }
    }
}

/// X, X_scale, X_zero_point, Y_scale, Y_zero_point → quantize(f(dequantize(X))).
private func qlinearUnary(_ inputs: [Tensor?], _ op: String, _ f: (Float) -> Float) throws -> [Tensor] {
    let x = try inputs.required(0)
    let px = try QParams(try inputs.required(1), inputs.optional(2), like: x.dtype, "\(op) X")
    let py = try QParams(try inputs.required(3), inputs.optional(4), like: x.dtype, "\(op) Y")
    return [py.quantize(try px.dequantize(x, "\(op) X").map(f), shape: x.shape)]
}
