import BerthONNX
import BerthTensor
import Foundation

extension KernelRegistry {
    /// MaxRoiPool (opset 1): Fast R-CNN ROI pooling. Each ROI (batch index, x1, y1, x2, y2),
    /// scaled by `spatial_scale` and rounded, is split into `pooled_shape` bins whose maxima form
    /// the output [num_rois, C, ph, pw]; an empty bin gives 0, as in ONNX Runtime.
    mutating func registerMaxRoiPoolKernels() {
        register("MaxRoiPool", opsets: 1...Int.max) { node, _ in
            guard let pooled = try node.ints("pooled_shape"), pooled.count == 2, pooled.allSatisfy({ $0 > 0 }) else {
                throw KernelError("MaxRoiPool needs pooled_shape [height, width] of positive values")
            }
            let scale = Double(try node.float("spatial_scale", default: 1))
            return { inputs, _ in
                let x = try inputs.required(0), rois = try inputs.required(1)
                guard x.dtype.isFloatingPoint, x.rank == 4, rois.rank == 2, rois.shape[1] == 5 else {
                    throw KernelError("MaxRoiPool needs X [N, C, H, W] and rois [R, 5], got \(x.shape) and \(rois.shape)")
                }
                let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
                let (ph, pw) = (pooled[0], pooled[1])
                let r = rois.shape[0]
                let outShape = [r, c, ph, pw]
                var out = [Double](repeating: 0, count: try TensorFamily.count(outShape))
                let v = x.doubles, roi = rois.doubles
                for ri in 0..<r {
                    // Coordinates come from the model's input: check them before converting to Int.
                    let scaled = (1...4).map { (roi[ri * 5 + $0] * scale).rounded() }
                    guard roi[ri * 5] >= 0, roi[ri * 5] < Double(n), scaled.allSatisfy({ abs($0) < 1e9 }) else {
                        throw KernelError("MaxRoiPool roi \(ri) \(Array(roi[(ri * 5)..<(ri * 5 + 5)])) has a batch index outside [0, \(n)) or non-finite or huge coordinates")
                    }
                    let b = Int(roi[ri * 5])
                    let (x1, y1, x2, y2) = (Int(scaled[0]), Int(scaled[1]), Int(scaled[2]), Int(scaled[3]))
                    let rh = max(y2 - y1 + 1, 1), rw = max(x2 - x1 + 1, 1)
                    let binH = Double(rh) / Double(ph), binW = Double(rw) / Double(pw)
                    for ci in 0..<c {
                        for i in 0..<ph {
                            let hs = min(max(Int((Double(i) * binH).rounded(.down)) + y1, 0), h)
                            let he = min(max(Int((Double(i + 1) * binH).rounded(.up)) + y1, 0), h)
                            for j in 0..<pw {
                                let ws = min(max(Int((Double(j) * binW).rounded(.down)) + x1, 0), w)
                                let we = min(max(Int((Double(j + 1) * binW).rounded(.up)) + x1, 0), w)
                                var m = -Double.infinity
                                for yy in hs..<max(hs, he) { for xx in ws..<max(ws, we) { m = max(m, v[((b * c + ci) * h + yy) * w + xx]) } }
                                out[((ri * c + ci) * ph + i) * pw + j] = m == -.infinity ? 0 : m
                            }
                        }
                    }
                }
                return [try doublesTensor(out, shape: outShape, dtype: x.dtype)]
            }
        }
    }
}
