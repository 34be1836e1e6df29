import BerthONNX
import BerthTensor

// Conv as im2col + sgemm, per group:
//   Y[n, g*Mg ..< (g+1)*Mg, :] = W_g [Mg, Cg*kvol] x col [Cg*kvol, outSpatial] (+ bias)
// A 1x1, stride-1, unpadded conv skips im2col: the input plane block already is `col`.

/// Parsed Conv attributes.
struct NNConvAttributes: Sendable {
    var window: NNWindowAttributes
    var group: Int

    init(node: Node) throws {
        window = try NNWindowAttributes(node: node)
        group = try node.int("group", default: 1)
        guard group >= 1 else { throw KernelError("group must be >= 1, got \(group)") }
    }

    /// Checks the weight shape `wShape` ([M, C/group, kernel...]) against the input shape `xShape`
    /// ([N, C, spatial...]) and resolves the window (`g`, and `g3` widened to three axes) and the
    /// output shape [N, M, out...]. `cg` and `mg` are the input and output channels per group.
    func shapes(x xShape: [Int], w wShape: [Int], op: String) throws
        -> (n: Int, c: Int, m: Int, cg: Int, mg: Int, spatial: [Int], kernel: [Int], g: NNWindowGeometry, g3: NNWindowGeometry, outShape: [Int]) {
        let (n, c, spatial) = try nnSplitNC(xShape, op: op)
        guard wShape.count == xShape.count else { throw KernelError("\(op) weight shape \(wShape) must have the input rank \(xShape.count)") }
        let m = wShape[0]
        let kernel = Array(wShape[2...])
        if let k = window.kernelShape, k != kernel { throw KernelError("kernel_shape \(k) does not match the weight shape \(wShape)") }
        guard c % group == 0, m % group == 0 else { throw KernelError("input channels \(c) and output channels \(m) must be divisible by group \(group)") }
        guard wShape[1] == c / group else {
            throw KernelError("\(op) weight shape \(wShape) expects \(wShape[1]) channels per group, input has \(c) channels in \(group) group(s)")
        }
        let g = try window.geometry(input: spatial, kernel: kernel)
        guard let g3 = g.as3D else { throw KernelError("\(op) supports 1 to 3 spatial axes, got \(spatial.count)") }
        return (n, c, m, c / group, m / group, spatial, kernel, g, g3, [n, m] + g.output)
    }
}

/// Fills `col` for `items` batch items: item `i` (input planes at `x + i * itemStride`) goes to
/// columns `[i * outSpatial, (i + 1) * outSpatial)` of the [Cg * kvol, ldc] row-major matrix.
/// (item, row) pairs are independent, so they are spread over the pool.
private func nnIm2col(_ x: UnsafePointer<Float>, itemStride: Int, items: Int, _ col: UnsafeMutablePointer<Float>, ldc: Int,
                      channels: Int, g: NNWindowGeometry, pool: ThreadPool) {
    let (D, H, W) = (g.input[0], g.input[1], g.input[2])
    let (KD, KH, KW) = (g.kernel[0], g.kernel[1], g.kernel[2])
    let (OD, OH, OW) = (g.output[0], g.output[1], g.output[2])
    let (sd, sh, sw) = (g.strides[0], g.strides[1], g.strides[2])
    let (dd, dh, dw) = (g.dilations[0], g.dilations[1], g.dilations[2])
    let (pd, ph, pw) = (g.padsBegin[0], g.padsBegin[1], g.padsBegin[2])
    let inPlane = D * H * W
    let outSpatial = OD * OH * OW
    let rows = channels * KD * KH * KW
    let sameRows = D == 1 && KD == 1 && sh == 1 && sw == 1 && OW == W
    pool.parallelFor(rows * items, minChunk: max(1, 16_384 / max(1, outSpatial))) { range in
        for job in range {
            let item = job / rows
            var t = job - item * rows
            let r = t
            let kw = t % KW; t /= KW
            let kh = t % KH; t /= KH
            let kd = t % KD
            let c = t / KD
            let xc = x + item * itemStride + c * inPlane
            var dst = col + r * ldc + item * outSpatial
            // Output columns whose input column lands inside the row: ow*sw + wOff in [0, W).
            let wOff = kw * dw - pw
            let owLo = wOff < 0 ? min(OW, (-wOff + sw - 1) / sw) : 0
            let owHi = W - wOff <= 0 ? owLo : max(owLo, min(OW, (W - wOff + sw - 1) / sw))
            if sameRows {
                // Stride 1 with OW == W: the valid output rows read one contiguous run of the input
                // plane shifted by (kh*dh - ph, wOff); only the wrapped border columns need zeros.
                let hOff = kh * dh - ph
                let ohLo = hOff < 0 ? min(OH, -hOff) : 0
                let ohHi = max(ohLo, min(OH, H - hOff))
                dst.update(repeating: 0, count: ohLo * OW)
                let runCount = (ohHi - ohLo) * OW
                let base = (ohLo + hOff) * W + wOff
                // Elements before the plane start or past its end are border columns: zeros.
                let lo = min(runCount, max(0, -base)), hi = max(lo, min(runCount, inPlane - base))
                let run = dst + ohLo * OW
                run.update(repeating: 0, count: lo)
                (run + lo).update(from: xc + (base + lo), count: hi - lo)
                (run + hi).update(repeating: 0, count: runCount - hi)
                if owLo > 0 || owHi < OW {
                    for oh in ohLo..<ohHi {
                        let rowStart = run + (oh - ohLo) * OW
                        for ow in 0..<owLo { rowStart[ow] = 0 }
                        for ow in owHi..<OW { rowStart[ow] = 0 }
                    }
                }
                (dst + ohHi * OW).update(repeating: 0, count: (OH - ohHi) * OW)
                continue
            }
            for od in 0..<OD {
                let id = od * sd - pd + kd * dd
                for oh in 0..<OH {
                    let ih = oh * sh - ph + kh * dh
                    // Rows are short (often 7-56 floats): plain loops beat memcpy/memset calls.
                    if id < 0 || id >= D || ih < 0 || ih >= H {
                        for ow in 0..<OW { dst[ow] = 0 }
                    } else {
                        let src = xc + (id * H + ih) * W + wOff
                        for ow in 0..<owLo { dst[ow] = 0 }
                        if sw == 1 {
                            for ow in owLo..<owHi { dst[ow] = src[ow] }
                        } else {
                            var ow = owLo
                            while ow < owHi { dst[ow] = src[ow &* sw]; ow &+= 1 }
                        }
                        for ow in owHi..<OW { dst[ow] = 0 }
                    }
                    dst += OW
                }
            }
        }
    }
}

/// Depthwise convolution (one input and one output channel per group): a direct, row-at-a-time
/// multiply-add, which beats a 1 x kvol GEMM per channel by a wide margin. `y` holds the bias.
private func nnDepthwiseConv(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                             planes: Int, channels: Int, g: NNWindowGeometry, pool: ThreadPool) {
    let (H, W) = (g.input[1], g.input[2])
    let (OD, OH, OW) = (g.output[0], g.output[1], g.output[2])
    let (KH, KW) = (g.kernel[1], g.kernel[2])
    let inPlane = g.input[0] * H * W, outPlane = OD * OH * OW
    let kvol = g.kernel[0] * KH * KW
    let td = NNTapTable(g, axis: 0), th = NNTapTable(g, axis: 1)
    let cols = NNColumnRanges(g)
    let sw = g.strides[2]
    let (dd, dh) = (g.dilations[0], g.dilations[1])
    pool.parallelFor(planes, minChunk: max(1, 16_384 / max(1, outPlane * kvol))) { range in
        for p in range {
            let wk = w + (p % channels) * kvol
            let xPlane = x + p * inPlane
            var yrow = y + p * outPlane
            for od in 0..<OD {
                for oh in 0..<OH {
                    for kd in td.lo[od]..<td.hi[od] {
                        let id = td.start[od] + kd * dd
                        for kh in th.lo[oh]..<th.hi[oh] {
                            let xrow = xPlane + (id * H + th.start[oh] + kh * dh) * W
                            for kw in 0..<KW {
                                let lo = cols.lo[kw], hi = cols.hi[kw]
                                guard lo < hi else { continue }
                                let wv = wk[(kd * KH + kh) * KW + kw]
                                let src = xrow + (lo * sw + cols.offset[kw])
                                if sw == 1 {
                                    for ow in lo..<hi { yrow[ow] += wv * src[ow &- lo] }
                                } else {
                                    for ow in lo..<hi { yrow[ow] += wv * src[(ow &- lo) &* sw] }
                                }
                            }
                        }
                    }
                    yrow += OW
                }
            }
        }
    }
}

/// Float32 convolution. `x` is [N, C, spatial...], `w` is [M, C/group, kernel...], `bias` is [M].
///
/// One GEMM per (batch item, group), written in place onto the bias; OpenBLAS threads each GEMM
/// and the pool spreads im2col. (Merging several items into one wider GEMM measured slower here:
/// the scatter back to NCHW costs more than the wider GEMM saves.)
func nnConvFloat(x: [Float], xShape: [Int], w: [Float], wShape: [Int], bias: [Float]?, attrs: NNConvAttributes, pool: ThreadPool) throws -> (values: [Float], shape: [Int]) {
    let (n, c, m, cg, mg, spatial, kernel, g, g3, outShape) = try attrs.shapes(x: xShape, w: wShape, op: "Conv")
    let group = attrs.group
    if let bias, bias.count != m { throw KernelError("Conv bias has \(bias.count) values, expected \(m)") }
    let total = try Shape.elementCount(outShape)
    let outSpatial = try Shape.elementCount(g.output)
    let inPlane = try Shape.elementCount(spatial)
    let kvol = try Shape.elementCount(kernel)
    let kdim = try Shape.elementCount([cg, kvol])
    _ = try Shape.elementCount([kdim, outSpatial])
    let pointwise = kvol == 1 && g.strides.allSatisfy { $0 == 1 } && g.padsBegin.allSatisfy { $0 == 0 } && g.padsEnd.allSatisfy { $0 == 0 }

    let y = [Float](unsafeUninitializedCapacity: total) { yb, count in
        count = total
        guard total > 0, let yp = yb.baseAddress else { return }
        // Bias first, so that every GEMM accumulates onto it with beta = 1.
        for i in 0..<(n * m) { (yp + i * outSpatial).initialize(repeating: bias?[i % m] ?? 0, count: outSpatial) }
        guard kdim > 0 else { return }
        x.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                guard let xp = xb.baseAddress, let wp = wb.baseAddress else { return }
                if cg == 1 && mg == 1 && !pointwise {
                    nnDepthwiseConv(xp, wp, yp, planes: n * c, channels: c, g: g3, pool: pool)
                    return
                }
                let col = UnsafeMutablePointer<Float>.allocate(capacity: pointwise ? 1 : kdim * outSpatial)
                defer { col.deallocate() }
                for b in 0..<n {
                    for gi in 0..<group {
                        let xg = xp + (b * c + gi * cg) * inPlane
                        let source: UnsafePointer<Float>
                        if pointwise {
                            source = xg
                        } else {
                            nnIm2col(xg, itemStride: 0, items: 1, col, ldc: outSpatial, channels: cg, g: g3, pool: pool)
                            source = UnsafePointer(col)
                        }
                        BLAS.sgemm(transA: false, transB: false, m: mg, n: outSpatial, k: kdim,
                                   alpha: 1, a: wp + gi * mg * kdim, lda: kdim,
                                   b: source, ldb: outSpatial,
                                   beta: 1, c: yp + (b * m + gi * mg) * outSpatial, ldc: outSpatial)
                    }
                }
            }
        }
    }
    return (y, outShape)
}

/// Conv for any floating dtype: float32 directly, float16/float64 through float32.
func nnConvTensor(_ x: Tensor, _ w: Tensor, _ b: Tensor?, attrs: NNConvAttributes, pool: ThreadPool) throws -> Tensor {
    func floats(_ t: Tensor) throws -> [Float] {
        switch t.storage {
        case let .float32(v): return v
        case let .float64(v): return v.map { Float($0) }
        case let .float16(v): return v.map { Float($0) }
        default: throw KernelError("Conv expects floating-point tensors, got \(t.dtype)")
        }
    }
    guard w.dtype == x.dtype, b == nil || b?.dtype == x.dtype else {
        throw KernelError("Conv inputs must share one dtype, got X \(x.dtype), W \(w.dtype)\(b.map { ", B \($0.dtype)" } ?? "")")
    }
    let r = try nnConvFloat(x: try floats(x), xShape: x.shape, w: try floats(w), wShape: w.shape,
                            bias: try b.map(floats), attrs: attrs, pool: pool)
    switch x.dtype {
    case .float64: return Tensor(unchecked: r.shape, storage: .float64(r.values.map { Double($0) }))
    case .float16: return Tensor(unchecked: r.shape, storage: .float16(r.values.map { Float16($0) }))
    default: return Tensor(unchecked: r.shape, storage: .float32(r.values))
    }
}

extension KernelRegistry {
    /// Registers Conv (opset 1 and 11 share semantics for the float path).
    mutating func registerConvKernels() {
        register("Conv", opsets: 1...Int.max) { node, _ in
            let attrs = try NNConvAttributes(node: node)
            let cache = ConvBackendCache()
            return { inputs, ctx in
                [try nnConvFused(x: try inputs.required(0), w: try inputs.required(1), bias: inputs.optional(2), z: nil,
                                 epilogue: .none, attrs: attrs, cache: cache, pool: ctx.pool)]
            }
        }
    }
}
