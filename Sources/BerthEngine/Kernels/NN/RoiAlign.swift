import BerthONNX
import BerthTensor

/// RoiAlign: average or max of bilinear samples on a regular grid inside each bin of each region,
/// as ONNX Runtime computes it (samples beyond one pixel outside the image read 0; max mode takes
/// the largest weighted corner, as ONNX Runtime does). Opset 16 adds half-pixel coordinates.
struct NNRoiAlign: Sendable {
    var maxMode: Bool
    var outH: Int, outW: Int
    var samplingRatio: Int
    var spatialScale: Float
    var halfPixel: Bool

    func run(_ x: Tensor, _ rois: Tensor, _ batchIndices: Tensor) throws -> Tensor {
        guard x.rank == 4, rois.rank == 2, rois.shape[1] == 4, batchIndices.rank == 1, batchIndices.shape[0] == rois.shape[0] else {
            throw KernelError("RoiAlign needs X [N, C, H, W], rois [R, 4] and batch_indices [R], got \(x.shape), \(rois.shape), \(batchIndices.shape)")
        }
        guard x.dtype.isFloatingPoint, rois.dtype.isFloatingPoint else { throw KernelError("RoiAlign needs float X and rois") }
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3], nr = rois.shape[0]
        let outShape = [nr, c, outH, outW]
        let total = try TensorFamily.count(outShape)
        let xv = x.doubles, rv = rois.doubles
        let batch = try TensorFamily.ints(batchIndices, "RoiAlign batch_indices")
        var out = [Double](repeating: 0, count: total)
        for r in 0..<nr {
            let b = try TensorFamily.checkedIndex(batch[r], dim: n, "RoiAlign batch_indices")
            guard batch[r] >= 0 else { throw KernelError("RoiAlign batch index \(batch[r]) is negative") }
            let off: Double = halfPixel ? 0.5 : 0
            let s = Double(spatialScale)
            let x0 = rv[4 * r] * s - off, y0 = rv[4 * r + 1] * s - off
            var rw = rv[4 * r + 2] * s - off - x0, rh = rv[4 * r + 3] * s - off - y0
            if !halfPixel { rw = max(rw, 1); rh = max(rh, 1) }
            let bh = rh / Double(outH), bw = rw / Double(outW)
            let gh = samplingRatio > 0 ? samplingRatio : Int(min(max((rh / Double(outH)).rounded(.up), 0), 1e6))
            let gw = samplingRatio > 0 ? samplingRatio : Int(min(max((rw / Double(outW)).rounded(.up), 0), 1e6))
            guard gh.multipliedReportingOverflow(by: gw).partialValue <= 1 << 20 else {
                throw KernelError("RoiAlign region \(r) needs a \(gh) x \(gw) sampling grid per bin, too many")
            }
            let count = Double(max(gh * gw, 1))
            for ch in 0..<c {
                let plane = (b * c + ch) * h * w
                for ph in 0..<outH {
                    for pw in 0..<outW {
                        var acc = 0.0
                        var started = false
                        for iy in 0..<gh {
                            let yy = y0 + Double(ph) * bh + (Double(iy) + 0.5) * bh / Double(gh)
                            for ix in 0..<gw {
                                let xx = x0 + Double(pw) * bw + (Double(ix) + 0.5) * bw / Double(gw)
                                var v = 0.0
                                if !(yy < -1 || yy > Double(h) || xx < -1 || xx > Double(w)) {
                                    var y = max(yy, 0), xq = max(xx, 0)
                                    var yl = Int(y), xl = Int(xq)
                                    let yh: Int, xh: Int
                                    if yl >= h - 1 { yl = h - 1; yh = yl; y = Double(yl) } else { yh = yl + 1 }
                                    if xl >= w - 1 { xl = w - 1; xh = xl; xq = Double(xl) } else { xh = xl + 1 }
                                    let ly = y - Double(yl), lx = xq - Double(xl), hy = 1 - ly, hx = 1 - lx
                                    let p1 = xv[plane + yl * w + xl] * hy * hx, p2 = xv[plane + yl * w + xh] * hy * lx
                                    let p3 = xv[plane + yh * w + xl] * ly * hx, p4 = xv[plane + yh * w + xh] * ly * lx
                                    v = maxMode ? max(p1, p2, p3, p4) : p1 + p2 + p3 + p4
                                } else if maxMode {
                                    v = 0
                                }
                                if maxMode { acc = started ? max(acc, v) : v; started = true } else { acc += v }
                            }
                        }
                        out[((r * c + ch) * outH + ph) * outW + pw] = maxMode ? acc : acc / count
                    }
                }
            }
        }
        switch x.dtype {
        case .float32: return Tensor(unchecked: outShape, storage: .float32(out.map { Float($0) }))
        case .float16: return Tensor(unchecked: outShape, storage: .float16(out.map { Float16($0) }))
        default: return Tensor(unchecked: outShape, storage: .float64(out))
        }
    }
}

extension KernelRegistry {
    mutating func registerRoiAlignKernels() {
        // 10: output-pixel coordinates; 16: coordinate_transformation_mode (default half_pixel).
        for range in [10...15, 16...Int.max] {
            register("RoiAlign", opsets: range) { node, opset in
                let mode = try node.string("mode", default: "avg")
                guard mode == "avg" || mode == "max" else { throw KernelError("RoiAlign mode '\(mode)' must be avg or max") }
                let ct = opset >= 16 ? try node.string("coordinate_transformation_mode", default: "half_pixel") : "output_half_pixel"
                guard ct == "half_pixel" || ct == "output_half_pixel" else {
                    throw KernelError("RoiAlign coordinate_transformation_mode '\(ct)' is not supported")
                }
                let oh = try node.int("output_height", default: 1), ow = try node.int("output_width", default: 1)
                let sr = try node.int("sampling_ratio", default: 0)
                guard oh > 0, ow > 0, sr >= 0, sr <= 1 << 10 else {
                    throw KernelError("RoiAlign output_height \(oh), output_width \(ow) and sampling_ratio \(sr) are invalid")
                }
                let ra = NNRoiAlign(maxMode: mode == "max", outH: oh, outW: ow, samplingRatio: sr,
                                    spatialScale: try node.float("spatial_scale", default: 1), halfPixel: ct == "half_pixel")
                return { inputs, _ in [try ra.run(try inputs.required(0), try inputs.required(1), try inputs.required(2))] }
            }
        }
    }
}
