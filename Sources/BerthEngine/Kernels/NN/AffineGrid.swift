import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// AffineGrid (opset 20): the sampling grid GridSample takes, from affine matrices theta
    /// [N, 2, 3] (2-D, size [N, C, H, W] → grid [N, H, W, 2]) or [N, 3, 4] (3-D, size
    /// [N, C, D, H, W] → [N, D, H, W, 3]). Base coordinates span [-1, 1] through the pixel
    /// centres, or the corner pixels with `align_corners`.
    mutating func registerAffineGridKernels() {
        register("AffineGrid", opsets: 20...Int.max) { node, _ in
            let alignCorners = try node.int("align_corners", default: 0) != 0
            return { inputs, _ in
                let theta = try inputs.required(0)
                let size = try TensorFamily.ints(try inputs.required(1), "AffineGrid size")
                guard theta.dtype.isFloatingPoint, size.count == 4 || size.count == 5, size.allSatisfy({ $0 >= 0 }) else {
                    throw KernelError("AffineGrid needs floating-point theta and a size of 4 or 5 non-negative values, got \(theta.dtype) and \(size)")
                }
                let dims = size.count - 2  // 2 or 3 spatial dims
                guard theta.shape == [size[0], dims, dims + 1] else {
                    throw KernelError("AffineGrid theta must be [\(size[0]), \(dims), \(dims + 1)] for size \(size), got \(theta.shape)")
                }
                let spatial = Array(size[2...])  // (H, W) or (D, H, W)
                func base(_ i: Int, _ n: Int) -> Double {
                    if alignCorners { return n <= 1 ? 0 : -1 + 2 * Double(i) / Double(n - 1) }
                    return (2 * Double(i) + 1) / Double(n) - 1
                }
                let outShape = [size[0]] + spatial + [dims]
                var out = [Double](repeating: 0, count: try TensorFamily.count(outShape))
                let t = theta.doubles
                let points = spatial.reduce(1, *)
                for n in 0..<size[0] {
                    for p in 0..<points {
                        // Spatial index (…, h, w) → coordinates (x = w, y = h, z = d).
                        var rem = p, coords = [Double](repeating: 0, count: dims)
                        for d in stride(from: dims - 1, through: 0, by: -1) {
                            let len = spatial[d]
                            coords[dims - 1 - d] = base(rem % len, len)
                            rem /= len
                        }
                        for r in 0..<dims {
                            var s = t[(n * dims + r) * (dims + 1) + dims]
                            for q in 0..<dims { s += t[(n * dims + r) * (dims + 1) + q] * coords[q] }
                            out[(n * points + p) * dims + r] = s
                        }
                    }
                }
                return [try doublesTensor(out, shape: outShape, dtype: theta.dtype)]
            }
        }
    }
}
