import BerthONNX
import BerthTensor
import Foundation

// ConvInteger and QLinearConv: exact int32 accumulation of (x - x_zero_point) * (w - w_zero_point)
// through an int32 im2col and an i-k-j GEMM loop (which LLVM vectorises).

/// The values of an 8-bit (or wider integer) tensor as Int32.
private func nnInt32(_ t: Tensor, _ what: String) throws -> [Int32] {
    switch t.storage {
    case let .uint8(v): return v.map { Int32($0) }
    case let .int8(v): return v.map { Int32($0) }
    case let .int32(v): return v
    default: throw KernelError("\(what) must be int8 or uint8, got \(t.dtype)")
    }
}

/// A zero point (scalar, or one per output channel when `perChannel` is allowed), as Int32.
private func nnZeroPoints(_ t: Tensor?, count: Int, what: String) throws -> [Int32] {
    guard let t else { return [0] }
    let v = try nnInt32(t, what)
    guard v.count == 1 || v.count == count else { throw KernelError("\(what) must have 1 or \(count) values, got \(v.count)") }
    return v
}

/// Integer convolution: returns int32 accumulators [N, M, out...] for already zero-point-shifted
/// `x` and per-output-channel shifted `w`.
private func nnIntegerConv(x: [Int32], xShape: [Int], w: [Int32], wShape: [Int], attrs: NNConvAttributes, op: String) throws -> (values: [Int32], shape: [Int]) {
    let (n, c, m, cg, mg, spatial, kernel, g, g3, outShape) = try attrs.shapes(x: xShape, w: wShape, op: op)
    let group = attrs.group
    let total = try Shape.elementCount(outShape)
    let outSpatial = try Shape.elementCount(g.output), inPlane = try Shape.elementCount(spatial)
    let kvol = try Shape.elementCount(kernel)
    let kdim = try Shape.elementCount([cg, kvol])
    var y = [Int32](repeating: 0, count: total)
    guard total > 0, kdim > 0 else { return (y, outShape) }
    let (D, H, W) = (g3.input[0], g3.input[1], g3.input[2])
    let (KD, KH, KW) = (g3.kernel[0], g3.kernel[1], g3.kernel[2])
    let (OD, OH, OW) = (g3.output[0], g3.output[1], g3.output[2])
    var col = [Int32](repeating: 0, count: try Shape.elementCount([kdim, outSpatial]))
    for b in 0..<n {
        for gi in 0..<group {
            // im2col with zeros for padding (the inputs are already zero-point shifted).
            for r in 0..<kdim {
                let kw = r % KW, kh = (r / KW) % KH, kd = (r / (KW * KH)) % KD, ch = r / kvol
                let base = (b * c + gi * cg + ch) * inPlane
                var o = r * outSpatial
                for od in 0..<OD {
                    let id = od * g3.strides[0] - g3.padsBegin[0] + kd * g3.dilations[0]
                    for oh in 0..<OH {
                        let ih = oh * g3.strides[1] - g3.padsBegin[1] + kh * g3.dilations[1]
                        for ow in 0..<OW {
                            let iw = ow * g3.strides[2] - g3.padsBegin[2] + kw * g3.dilations[2]
                            let inside = id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W
                            col[o] = inside ? x[base + (id * H + ih) * W + iw] : 0
                            o += 1
                        }
                    }
                }
            }
            for r in 0..<mg {
                let yBase = (b * m + gi * mg + r) * outSpatial
                let wBase = (gi * mg + r) * kdim
                for k in 0..<kdim {
                    let wv = w[wBase + k]
                    if wv == 0 { continue }
                    let cBase = k * outSpatial
                    for j in 0..<outSpatial { y[yBase + j] &+= wv &* col[cBase + j] }
                }
            }
        }
    }
    return (y, outShape)
}

/// Shifts `w` ([M, ...]) by its per-output-channel (or scalar) zero point.
private func nnShiftWeights(_ w: [Int32], m: Int, zero: [Int32]) -> [Int32] {
    guard m > 0 else { return w }
    let per = w.count / m
    return w.enumerated().map { i, v in v - zero[zero.count == 1 ? 0 : min(zero.count - 1, i / max(1, per))] }
}

private func nnConvInteger(_ inputs: [Tensor?], attrs: NNConvAttributes) throws -> Tensor {
    let xT = try inputs.required(0), wT = try inputs.required(1)
    let m = wT.shape.first ?? 0
    let xz = try nnZeroPoints(inputs.optional(2), count: 1, what: "x_zero_point")
    let wz = try nnZeroPoints(inputs.optional(3), count: m, what: "w_zero_point")
    let x = try nnInt32(xT, "x").map { $0 - xz[0] }
    let w = nnShiftWeights(try nnInt32(wT, "w"), m: m, zero: wz)
    let r = try nnIntegerConv(x: x, xShape: xT.shape, w: w, wShape: wT.shape, attrs: attrs, op: "ConvInteger")
    return Tensor(unchecked: r.shape, storage: .int32(r.values))
}

private func nnQLinearConv(_ inputs: [Tensor?], attrs: NNConvAttributes) throws -> Tensor {
    let xT = try inputs.required(0), wT = try inputs.required(3)
    let m = wT.shape.first ?? 0
    func scales(_ t: Tensor, _ what: String, count: Int) throws -> [Float] {
        guard case let .float32(v) = t.storage, v.count == 1 || v.count == count else {
            throw KernelError("\(what) must be a float scalar or have \(count) values, got \(t.dtype)\(t.shape)")
        }
        return v
    }
    let xScale = try scales(try inputs.required(1), "x_scale", count: 1)[0]
    let xz = try nnZeroPoints(try inputs.required(2), count: 1, what: "x_zero_point")
    let wScale = try scales(try inputs.required(4), "w_scale", count: m)
    let wz = try nnZeroPoints(try inputs.required(5), count: m, what: "w_zero_point")
    let yScale = try scales(try inputs.required(6), "y_scale", count: 1)[0]
    let yzT = try inputs.required(7)
    let yz = try nnZeroPoints(yzT, count: 1, what: "y_zero_point")[0]
    var bias: [Int32]? = nil
    if let b = inputs.optional(8) {
        guard case let .int32(v) = b.storage, v.count == m else { throw KernelError("B must be int32 with \(m) values, got \(b.dtype)\(b.shape)") }
        bias = v
    }
    let x = try nnInt32(xT, "x").map { $0 - xz[0] }
    let w = nnShiftWeights(try nnInt32(wT, "w"), m: m, zero: wz)
    let r = try nnIntegerConv(x: x, xShape: xT.shape, w: w, wShape: wT.shape, attrs: attrs, op: "QLinearConv")
    let outSpatial = r.shape.count > 2 ? try Shape.elementCount(Array(r.shape[2...])) : 1
    let (lo, hi): (Double, Double) = yzT.dtype == .int8 ? (-128, 127) : (0, 255)
    var q = [Double](repeating: 0, count: r.values.count)
    for i in 0..<r.values.count {
        let ch = m > 0 ? (i / max(1, outSpatial)) % m : 0
        let acc = Double(r.values[i]) + Double(bias?[ch] ?? 0)
        let scale = Double(xScale) * Double(wScale[wScale.count == 1 ? 0 : ch]) / Double(yScale)
        // Round half to even, then saturate, as ONNX quantisation specifies.
        q[i] = min(hi, max(lo, (acc * scale).rounded(.toNearestOrEven) + Double(yz)))
    }
    let storage: TensorStorage = yzT.dtype == .int8 ? .int8(q.map { Int8($0) }) : .uint8(q.map { UInt8($0) })
    return Tensor(unchecked: r.shape, storage: storage)
}

extension KernelRegistry {
    /// Registers ConvInteger and QLinearConv (opset 10+).
    mutating func registerQuantizedConvKernels() {
        register("ConvInteger", opsets: 10...Int.max) { node, _ in
            let attrs = try NNConvAttributes(node: node)
            let backend = Int8ConvBackend()
            return { inputs, ctx in
                // oneDNN's int8 convolution where it applies (exact sums; see Int8ConvBackend).
                if let x = inputs.optional(0), let w = inputs.optional(1), let xz = try? nnZeroPoints(inputs.optional(2), count: 1, what: "x_zero_point"),
                   inputs.optional(2).map({ $0.dtype == x.dtype }) ?? true, inputs.optional(3).map({ $0.dtype == w.dtype }) ?? true,
                   let y = try backend.sums(x: x, xZero: xz[0], w: w, wZero: try Tensor.zeroPoints(inputs.optional(3)), attrs: attrs,
                                            threads: DNNLThreads.count(intraOp: ctx.pool.threads)) {
                    return [y]
                }
                return [try nnConvInteger(inputs, attrs: attrs)]
            }
        }
        register("QLinearConv", opsets: 10...Int.max) { node, _ in
            let attrs = try NNConvAttributes(node: node)
            return { inputs, _ in [try nnQLinearConv(inputs, attrs: attrs)] }
        }
    }
}
