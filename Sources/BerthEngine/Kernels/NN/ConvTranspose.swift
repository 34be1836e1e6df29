import BerthONNX
import BerthTensor

// ConvTranspose as GEMM + col2im, per (batch item, group):
//   col [Mg * kvol, inSpatial] = W_g^T (W_g is [Cg, Mg * kvol]) x X_g [Cg, inSpatial]
// then every col row (m, kd, kh, kw) is scattered-added onto output channel m.

/// Parsed ConvTranspose attributes.
private struct NNConvTransposeAttributes: Sendable {
    /// The window attributes and `group`, parsed and checked as for Conv.
    var conv: NNConvAttributes
    var outputPadding: [Int]?
    var outputShape: [Int]?

    init(node: Node) throws {
        conv = try NNConvAttributes(node: node)
        outputPadding = try node.ints("output_padding")
        outputShape = try node.ints("output_shape")
    }

    /// The output geometry for `input` spatial dims: the window maps output to input as in Conv.
    func geometry(input: [Int], kernel: [Int]) throws -> NNWindowGeometry {
        let n = input.count
        let window = conv.window, autoPad = window.autoPad, pads = window.pads
        let s = window.strides ?? Array(repeating: 1, count: n)
        let d = window.dilations ?? Array(repeating: 1, count: n)
        let op = outputPadding ?? Array(repeating: 0, count: n)
        for v in [s, d, op, kernel, pads ?? [], outputShape ?? []] where v.contains(where: { $0 < 0 || $0 > nnMaxWindowValue }) {
            throw KernelError("ConvTranspose attribute values \(v) are out of range")
        }
        guard input.allSatisfy({ $0 <= nnMaxSpatialExtent }) else { throw KernelError("spatial shape \(input) is out of range") }
        guard s.count == n, d.count == n, op.count == n, kernel.count == n else {
            throw KernelError("ConvTranspose strides \(s), dilations \(d), output_padding \(op) and kernel \(kernel) must each have \(n) values")
        }
        var begin = [Int](repeating: 0, count: n), end = [Int](repeating: 0, count: n), out = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let extent = (kernel[i] - 1) * d[i] + 1
            let full = s[i] * (input[i] - 1) + op[i] + extent
            if let os = outputShape {
                guard os.count >= n else { throw KernelError("ConvTranspose output_shape \(os) must have \(n) spatial values") }
                let target = os[os.count - n + i]
                (begin[i], end[i]) = autoPad.split(total: max(0, full - target))
                out[i] = target
            } else if autoPad == .sameUpper || autoPad == .sameLower {
                let target = input[i] * s[i]
                (begin[i], end[i]) = autoPad.split(total: max(0, full - target))
                out[i] = target
            } else {
                if autoPad == .notSet, let p = pads {
                    guard p.count == 2 * n else { throw KernelError("pads \(p) must have \(2 * n) values") }
                    begin[i] = p[i]; end[i] = p[i + n]
                }
                out[i] = full - begin[i] - end[i]
            }
            guard out[i] >= 0 else { throw KernelError("ConvTranspose output size \(out[i]) on axis \(i) is negative") }
        }
        // `input` of the geometry is the ConvTranspose output (what the window slides over).
        return NNWindowGeometry(input: out, kernel: kernel, strides: s, dilations: d, padsBegin: begin, padsEnd: end, output: input)
    }
}

/// Scatter-adds `col` ([Mg * kvol, inSpatial]) onto `mg` output planes at `y`. `g` is the
/// 3-D window geometry whose `input` is the output plane and `output` is the input plane.
private func nnCol2im(_ col: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, g: NNWindowGeometry, pool: ThreadPool) {
    let (D, H, W) = (g.input[0], g.input[1], g.input[2])
    let (KD, KH, KW) = (g.kernel[0], g.kernel[1], g.kernel[2])
    let (ID, IH, IW) = (g.output[0], g.output[1], g.output[2])
    let (sd, sh, sw) = (g.strides[0], g.strides[1], g.strides[2])
    let (dd, dh, dw) = (g.dilations[0], g.dilations[1], g.dilations[2])
    let (pd, ph, pw) = (g.padsBegin[0], g.padsBegin[1], g.padsBegin[2])
    let outPlane = D * H * W, inSpatial = ID * IH * IW
    let kvol = KD * KH * KW
    pool.parallelFor(channels, minChunk: max(1, 16_384 / max(1, kvol * inSpatial))) { range in
        for m in range {
            let ym = y + m * outPlane
            for k in 0..<kvol {
                let kw = k % KW, kh = (k / KW) % KH, kd = k / (KW * KH)
                var src = col + (m * kvol + k) * inSpatial
                for i in 0..<ID {
                    let od = i * sd - pd + kd * dd
                    guard od >= 0 && od < D else { src += IH * IW; continue }
                    for j in 0..<IH {
                        let oh = j * sh - ph + kh * dh
                        if oh >= 0 && oh < H {
                            let row = ym + (od * H + oh) * W
                            for l in 0..<IW {
                                let ow = l * sw - pw + kw * dw
                                if ow >= 0 && ow < W { row[ow] += src[l] }
                            }
                        }
                        src += IW
                    }
                }
            }
        }
    }
}

private func nnConvTransposeTensor(_ xT: Tensor, _ wT: Tensor, _ bT: Tensor?, attrs: NNConvTransposeAttributes, pool: ThreadPool) throws -> Tensor {
    guard xT.dtype == wT.dtype, bT == nil || bT?.dtype == xT.dtype else {
        throw KernelError("ConvTranspose inputs must share one dtype, got X \(xT.dtype), W \(wT.dtype)")
    }
    func floats(_ t: Tensor) throws -> [Float] {
        switch t.storage {
        case let .float32(v): return v
        case let .float64(v): return v.map { Float($0) }
        case let .float16(v): return v.map { Float($0) }
        default: throw KernelError("ConvTranspose expects floating-point tensors, got \(t.dtype)")
        }
    }
    let (n, c, spatial) = try nnSplitNC(xT.shape, op: "ConvTranspose")
    let wShape = wT.shape
    guard wShape.count == xT.rank, wShape[0] == c else {
        throw KernelError("ConvTranspose weight shape \(wShape) must be [C=\(c), M/group, kernel...] for input \(xT.shape)")
    }
    let group = attrs.conv.group
    guard c % group == 0 else { throw KernelError("input channels \(c) must be divisible by group \(group)") }
    let cg = c / group, mg = wShape[1]
    let m = try Shape.elementCount([mg, group])
    let kernel = Array(wShape[2...])
    if let k = attrs.conv.window.kernelShape, k != kernel { throw KernelError("kernel_shape \(k) does not match the weight shape \(wShape)") }
    let g = try attrs.geometry(input: spatial, kernel: kernel)
    guard let g3 = g.as3D else { throw KernelError("ConvTranspose supports 1 to 3 spatial axes, got \(spatial.count)") }
    let outShape = [n, m] + g.input
    let total = try Shape.elementCount(outShape)
    let outPlane = try Shape.elementCount(g.input), inSpatial = try Shape.elementCount(spatial)
    let kvol = try Shape.elementCount(kernel)
    let rows = try Shape.elementCount([mg, kvol])
    _ = try Shape.elementCount([rows, inSpatial])
    let x = try floats(xT), w = try floats(wT)
    let bias = try bT.map(floats)
    if let bias, bias.count != m { throw KernelError("ConvTranspose bias has \(bias.count) values, expected \(m)") }

    let y = [Float](unsafeUninitializedCapacity: total) { yb, count in
        count = total
        guard total > 0, let yp = yb.baseAddress else { return }
        for i in 0..<(n * m) { (yp + i * outPlane).initialize(repeating: bias?[i % m] ?? 0, count: outPlane) }
        guard rows > 0, inSpatial > 0, cg > 0 else { return }
        x.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                guard let xp = xb.baseAddress, let wp = wb.baseAddress else { return }
                let col = UnsafeMutablePointer<Float>.allocate(capacity: rows * inSpatial)
                defer { col.deallocate() }
                for b in 0..<n {
                    for gi in 0..<group {
                        BLAS.sgemm(transA: true, transB: false, m: rows, n: inSpatial, k: cg,
                                   alpha: 1, a: wp + gi * cg * rows, lda: rows,
                                   b: xp + (b * c + gi * cg) * inSpatial, ldb: inSpatial,
                                   beta: 0, c: col, ldc: inSpatial)
                        nnCol2im(col, yp + (b * m + gi * mg) * outPlane, channels: mg, g: g3, pool: pool)
                    }
                }
            }
        }
    }
    switch xT.dtype {
    case .float64: return Tensor(unchecked: outShape, storage: .float64(y.map { Double($0) }))
    case .float16: return Tensor(unchecked: outShape, storage: .float16(y.map { Float16($0) }))
    default: return Tensor(unchecked: outShape, storage: .float32(y))
    }
}

extension KernelRegistry {
    /// Registers ConvTranspose (all opsets).
    mutating func registerConvTransposeKernels() {
        register("ConvTranspose", opsets: 1...Int.max) { node, _ in
            let attrs = try NNConvTransposeAttributes(node: node)
            return { inputs, ctx in
                [try nnConvTransposeTensor(try inputs.required(0), try inputs.required(1), inputs.optional(2), attrs: attrs, pool: ctx.pool)]
            }
        }
    }
}
