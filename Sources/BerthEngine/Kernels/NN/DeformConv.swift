import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// DeformConv (opset 19, 2-D as ONNX Runtime runs it): a convolution whose kernel taps are
    /// moved by learned offsets [N, offset_group·2·kH·kW, oH, oW] ((dy, dx) per tap) and read
    /// with bilinear interpolation (zero outside the image), optionally scaled by `mask`
    /// [N, offset_group·kH·kW, oH, oW]; then weights [oC, C/group, kH, kW] and bias, as Conv.
    mutating func registerDeformConvKernels() {
        register("DeformConv", opsets: 19...Int.max) { node, _ in
            let group = try node.int("group", default: 1), offsetGroups = try node.int("offset_group", default: 1)
            let kernelAttr = try node.ints("kernel_shape"), dilAttr = try node.ints("dilations")
            let padsAttr = try node.ints("pads"), stridesAttr = try node.ints("strides")
            guard group > 0, offsetGroups > 0 else { throw KernelError("DeformConv group and offset_group must be positive") }
            return { inputs, _ in
                let x = try inputs.required(0), w = try inputs.required(1), offset = try inputs.required(2)
                guard x.dtype.isFloatingPoint, x.rank == 4, w.rank == 4 else {
                    throw KernelError("DeformConv supports 2-D inputs: X [N, C, H, W] and W [oC, C/group, kH, kW], got \(x.shape) and \(w.shape)")
                }
                let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
                let (oc, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
                if let k = kernelAttr, k != [kh, kw] { throw KernelError("DeformConv kernel_shape \(k) does not match W \(w.shape)") }
                let dil = dilAttr ?? [1, 1], str = stridesAttr ?? [1, 1], pads = padsAttr ?? [0, 0, 0, 0]
                guard dil.count == 2, str.count == 2, pads.count == 4, dil.allSatisfy({ $0 > 0 }), str.allSatisfy({ $0 > 0 }),
                      pads.allSatisfy({ $0 >= 0 }) else {
                    throw KernelError("DeformConv dilations \(dil), strides \(str) and pads \(pads) must be 2, 2 and 4 valid values")
                }
                guard c % group == 0, cg == c / group, oc % group == 0, c % offsetGroups == 0, kh > 0, kw > 0 else {
                    throw KernelError("DeformConv: C \(c), W \(w.shape), group \(group), offset_group \(offsetGroups) do not agree")
                }
                let oh = (h + pads[0] + pads[2] - (dil[0] * (kh - 1) + 1)) / str[0] + 1
                let ow = (wd + pads[1] + pads[3] - (dil[1] * (kw - 1) + 1)) / str[1] + 1
                guard oh > 0, ow > 0 else { throw KernelError("DeformConv output would be empty for X \(x.shape) and W \(w.shape)") }
                let taps = kh * kw
                guard offset.shape == [n, offsetGroups * 2 * taps, oh, ow] else {
                    throw KernelError("DeformConv offset must be [\(n), \(offsetGroups * 2 * taps), \(oh), \(ow)], got \(offset.shape)")
                }
                let mask = inputs.optional(4)
                if let mask, mask.shape != [n, offsetGroups * taps, oh, ow] {
                    throw KernelError("DeformConv mask must be [\(n), \(offsetGroups * taps), \(oh), \(ow)], got \(mask.shape)")
                }
                let bias = inputs.optional(3)
                if let bias, bias.count != oc { throw KernelError("DeformConv bias must have \(oc) elements, got \(bias.shape)") }
                let outShape = [n, oc, oh, ow]
                var out = [Double](repeating: 0, count: try TensorFamily.count(outShape))
                let xv = x.doubles, wv = w.doubles, off = offset.doubles, mv = mask?.doubles, bv = bias?.doubles
                let plane = oh * ow, perOffsetGroup = c / offsetGroups, perGroupOut = oc / group
                // cols[c][tap][plane]: the sampled input for every output position.
                var cols = [Double](repeating: 0, count: try TensorFamily.count([c, taps, plane]))
                for b in 0..<n {
                    for ci in 0..<c {
                        let g = ci / perOffsetGroup
                        let image = (b * c + ci) * h * wd
                        for t in 0..<taps {
                            let (i, j) = (t / kw, t % kw)
                            let offBase = ((b * offsetGroups + g) * 2 * taps + 2 * t) * plane
                            for p in 0..<plane {
                                let (y, xx) = (p / ow, p % ow)
                                let sy = Double(y * str[0] - pads[0] + i * dil[0]) + off[offBase + p]
                                let sx = Double(xx * str[1] - pads[1] + j * dil[1]) + off[offBase + plane + p]
                                var v = deformBilinear(xv, image, h, wd, sy, sx)
                                if let mv { v *= mv[((b * offsetGroups + g) * taps + t) * plane + p] }
                                cols[(ci * taps + t) * plane + p] = v
                            }
                        }
                    }
                    for o in 0..<oc {
                        let g = o / perGroupOut
                        let outBase = (b * oc + o) * plane
                        for k in 0..<(cg * taps) {
                            let weight = wv[o * cg * taps + k]
                            if weight == 0 { continue }
                            let colBase = ((g * cg) * taps + k) * plane
                            for p in 0..<plane { out[outBase + p] += weight * cols[colBase + p] }
                        }
                        if let bv { for p in 0..<plane { out[outBase + p] += bv[o] } }
                    }
                }
                return [try doublesTensor(out, shape: outShape, dtype: x.dtype)]
            }
        }
    }
}

/// Bilinear sample of the plane at `base` ([h, w]) at (y, x); corners outside read as 0.
private func deformBilinear(_ v: [Double], _ base: Int, _ h: Int, _ w: Int, _ y: Double, _ x: Double) -> Double {
    guard y > -1, y < Double(h), x > -1, x < Double(w) else { return 0 }
    let y0 = Int(y.rounded(.down)), x0 = Int(x.rounded(.down))
    let ly = y - Double(y0), lx = x - Double(x0)
    func at(_ r: Int, _ c: Int) -> Double { r >= 0 && r < h && c >= 0 && c < w ? v[base + r * w + c] : 0 }
    return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) + ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1)
}
