import BerthONNX
import BerthTensor

/// GridSample over N spatial dims (2 before opset 20): each output point reads the input at the
/// grid's normalised coordinates with nearest, linear or cubic taps per dim, the padding mode
/// deciding what lies outside. Follows the ONNX reference: nearest rounds half to even, border and
/// reflection move out-of-range coordinates first, and taps outside read 0 (zeros) or the clamped
/// / reflected pixel.
struct NNGridSample: Sendable {
    enum Mode: Sendable { case nearest, linear, cubic }
    enum Padding: String, Sendable { case zeros, border, reflection }
    var mode: Mode
    var padding: Padding
    var alignCorners: Bool
    var maxSpatial: Int

    static func reflect(_ x: Float, _ lo: Float, _ hi: Float) -> Float {
        let range = hi - lo
        guard range > 0 else { return lo }
        if x < lo {
            let dx = lo - x, n = (dx / range).rounded(.towardZero), r = dx - n * range
            return n.truncatingRemainder(dividingBy: 2) == 0 ? lo + r : hi - r
        }
        if x > hi {
            let dx = x - hi, n = (dx / range).rounded(.towardZero), r = dx - n * range
            return n.truncatingRemainder(dividingBy: 2) == 0 ? hi - r : lo + r
        }
        return x
    }

    static func cubic(_ t: Float) -> [Float] {
        let a: Float = -0.75
        func k(_ x: Float) -> Float { TensorFamily.resizeCubic(x, a) }
        return [k(t + 1), k(t), k(1 - t), k(2 - t)]
    }

    func run(_ x: Tensor, _ grid: Tensor) throws -> Tensor {
        let d = x.rank - 2
        guard d >= 1, d <= maxSpatial, grid.rank == x.rank, grid.shape[0] == x.shape[0], grid.shape[x.rank - 1] == d else {
            throw KernelError("GridSample needs X [N, C, \(maxSpatial == 2 ? "H, W" : "D...")] and grid [N, ..., \(max(d, 1))], got \(x.shape) and \(grid.shape)")
        }
        guard x.dtype.isFloatingPoint, grid.dtype.isFloatingPoint else {
            throw KernelError("GridSample needs float inputs, got \(x.dtype) and \(grid.dtype)")
        }
        let n = x.shape[0], c = x.shape[1]
        let dims = Array(x.shape[2...])
        let outSpatial = Array(grid.shape[1..<(grid.rank - 1)])
        let outShape = [n, c] + outSpatial
        let total = try TensorFamily.count(outShape)
        let points = outSpatial.reduce(1, *)
        let plane = dims.reduce(1, *)
        guard plane > 0 || total == 0 else { throw KernelError("GridSample input \(x.shape) has no pixels to sample") }
        let xv = x.doubles, g = grid.doubles
        var out = [Double](repeating: 0, count: total)
        let strides = TensorFamily.strides(dims)
        var taps: [[(Int, Float)]] = Array(repeating: [], count: d)
        for b in 0..<n {
            for p in 0..<points {
                // Per-dim taps; the grid's last axis lists coordinates innermost dim first (x, y, ...).
                var valid = true
                for i in 0..<d {
                    let len = dims[i]
                    let gv = Float(g[(b * points + p) * d + (d - 1 - i)])
                    var v = alignCorners ? (gv + 1) / 2 * Float(len - 1) : ((gv + 1) * Float(len) - 1) / 2
                    if mode == .nearest { v = v.rounded(.toNearestOrEven) }
                    let lo: Float = alignCorners ? 0 : -0.5, hi: Float = alignCorners ? Float(len - 1) : Float(len) - 0.5
                    if v < lo || v > hi {
                        if padding == .border { v = min(max(v, 0), Float(len - 1)) }
                        else if padding == .reflection { v = Self.reflect(v, lo, hi) }
                    }
                    guard v.isFinite, abs(v) < 1e9 else { valid = false; break }
                    var t: [(Int, Float)]
                    switch mode {
                    case .nearest: t = [(Int(v), 1)]
                    case .linear:
                        let f = v.rounded(.down), r = v - f
                        t = [(Int(f), 1 - r), (Int(f) + 1, r)]
                    case .cubic:
                        let f = v.rounded(.down)
                        let w = Self.cubic(v - f)
                        t = (0..<4).map { (Int(f) - 1 + $0, w[$0]) }
                    }
                    for k in t.indices {
                        var idx = t[k].0
                        if idx < 0 || idx >= len {
                            switch padding {
                            case .zeros: t[k].1 = 0; idx = 0
                            case .border: idx = min(max(idx, 0), len - 1)
                            case .reflection: idx = min(max(Int(Self.reflect(Float(idx), lo, hi)), 0), len - 1)
                            }
                        }
                        t[k].0 = idx * strides[i]
                    }
                    taps[i] = t
                }
                // Walk every combination of taps (at most 4^d).
                for ch in 0..<c {
                    guard valid else { continue }
                    let src = (b * c + ch) * plane
                    var acc = 0.0
                    var pick = [Int](repeating: 0, count: d)
                    while true {
                        var w: Float = 1, off = src
                        for i in 0..<d { w *= taps[i][pick[i]].1; off += taps[i][pick[i]].0 }
                        if w != 0 { acc += Double(w) * xv[off] }
                        var i = d - 1
                        while i >= 0 {
                            pick[i] += 1
                            if pick[i] < taps[i].count { break }
                            pick[i] = 0
                            i -= 1
                        }
                        if i < 0 { break }
                    }
                    out[(b * c + ch) * points + p] = acc
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
    mutating func registerGridSampleKernels() {
        // 16: bilinear / nearest / bicubic over 2 spatial dims; 20: linear / nearest / cubic over N.
        for (range, names, maxSpatial) in [(16...19, ["bilinear", "nearest", "bicubic"], 2), (20...Int.max, ["linear", "nearest", "cubic"], 8)] {
            register("GridSample", opsets: range) { node, _ in
                let m = try node.string("mode", default: names[0])
                guard let i = names.firstIndex(of: m) else { throw KernelError("GridSample mode '\(m)' must be one of \(names)") }
                let p = try node.string("padding_mode", default: "zeros")
                guard let padding = NNGridSample.Padding(rawValue: p) else { throw KernelError("GridSample padding_mode '\(p)' is not supported") }
                let gs = NNGridSample(mode: [NNGridSample.Mode.linear, .nearest, .cubic][i], padding: padding,
                                      alignCorners: try node.int("align_corners", default: 0) != 0, maxSpatial: maxSpatial)
                return { inputs, _ in [try gs.run(try inputs.required(0), try inputs.required(1))] }
            }
        }
    }
}
