import BerthONNX
import BerthTensor
import Foundation

/// Resize (opsets 10-21) and Upsample (7-9). Interpolation is separable: every resized axis gets a
/// table of (source index, weight) taps per output index, built once per run from the scales, the
/// coordinate transformation and the mode. Nearest is then a strided gather (any dtype); linear and
/// cubic apply the tables one axis at a time, with a dedicated loop for the common float32 case
/// of resizing the last two axes bilinearly (NCHW upsampling in U-Nets and text detectors).
/// Coordinates are computed in Float, as ONNX Runtime computes them, so nearest-neighbour rounding
/// ties fall the same way.
enum ResizeMode: String, Sendable { case nearest, linear, cubic }

enum ResizeCoordinates: String, Sendable {
    case halfPixel = "half_pixel", halfPixelSymmetric = "half_pixel_symmetric", pytorchHalfPixel = "pytorch_half_pixel"
    case alignCorners = "align_corners", asymmetric, tfHalfPixelForNN = "tf_half_pixel_for_nn"
    case tfCropAndResize = "tf_crop_and_resize"
}

enum ResizeNearest: String, Sendable {
    case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil
    /// Resize-10 and Upsample: truncate when upsampling, ceil when downsampling (ONNX Runtime's rule).
    case simple
}

enum ResizeAspectPolicy: String, Sendable { case stretch, notLarger = "not_larger", notSmaller = "not_smaller" }

/// The parsed attributes of one Resize / Upsample node.
struct ResizeAttributes: Sendable {
    var op = "Resize"
    var mode = ResizeMode.nearest
    var coordinates = ResizeCoordinates.halfPixel
    var nearest = ResizeNearest.roundPreferFloor
    var cubicA: Float = -0.75
    var excludeOutside = false
    var extrapolation: Float = 0
    var antialias = false
    var axes: [Int]? = nil
    var policy = ResizeAspectPolicy.stretch

    /// Reads the attributes `opset` defines; the legacy forms (Resize-10, Upsample) use asymmetric
    /// coordinates and the "simple" nearest rule.
    init(node: Node, op: String, opset: Int) throws {
        self.op = op
        let modeName = try node.string("mode", default: "nearest")
        guard let m = ResizeMode(rawValue: modeName), m != .cubic || (op == "Resize" && opset >= 11) else {
            throw KernelError("\(op) mode '\(modeName)' is not supported at opset \(opset)")
        }
        mode = m
        guard op == "Resize" && opset >= 11 else {
            coordinates = .asymmetric
            nearest = .simple
            return
        }
        let c = try node.string("coordinate_transformation_mode", default: "half_pixel")
        guard let coords = ResizeCoordinates(rawValue: c), coords != .halfPixelSymmetric || opset >= 19 else {
            throw KernelError("Resize coordinate_transformation_mode '\(c)' is not supported at opset \(opset)")
        }
        coordinates = coords
        let n = try node.string("nearest_mode", default: "round_prefer_floor")
        guard let nm = ResizeNearest(rawValue: n), nm != .simple else { throw KernelError("Resize nearest_mode '\(n)' is not supported") }
        nearest = nm
        cubicA = try node.float("cubic_coeff_a", default: -0.75)
        let ex = try node.int("exclude_outside", default: 0)
        guard ex == 0 || ex == 1 else { throw KernelError("Resize exclude_outside must be 0 or 1, got \(ex)") }
        excludeOutside = ex == 1
        extrapolation = try node.float("extrapolation_value", default: 0)
        guard opset >= 18 else { return }
        let aa = try node.int("antialias", default: 0)
        guard aa == 0 || aa == 1 else { throw KernelError("Resize antialias must be 0 or 1, got \(aa)") }
        antialias = aa == 1
        axes = try node.ints("axes")
        let p = try node.string("keep_aspect_ratio_policy", default: "stretch")
        guard let policy = ResizeAspectPolicy(rawValue: p) else { throw KernelError("Resize keep_aspect_ratio_policy '\(p)' is not supported") }
        self.policy = policy
    }
}

/// The taps of one resized axis: output index `j` reads `index[j * taps + k]` with `weight[...]`
/// (source indices already clamped into the axis), or the extrapolation value when `outside[j]`.
struct ResizeAxisTable: Sendable {
    var outLength: Int
    var taps: Int
    var index: [Int]
    var weight: [Float]
    var outside: [Bool]
    var anyOutside: Bool

    /// True when the table copies the axis unchanged (scale 1 with an exact coordinate mapping).
    var isIdentity: Bool {
        guard !anyOutside, index.count == outLength * taps else { return false }
        for j in 0..<outLength {
            // Every weight on index j, summing to 1 (an edge tap may be split 0.5 / 0.5).
            var sum: Float = 0
            for k in 0..<taps {
                let w = weight[j * taps + k]
                if w != 0 && index[j * taps + k] != j { return false }
                sum += w
            }
            if sum != 1 { return false }
        }
        return true
    }
}

extension TensorFamily {
    /// The output shape, the per-axis scales used for coordinates and the crop box of each axis.
    static func resizeGeometry(_ shape: [Int], roi: [Float]?, scales: [Float]?, sizes: [Int]?,
                               _ a: ResizeAttributes) throws -> (out: [Int], scales: [Float], roi: [(Float, Float)]) {
        let r = shape.count
        let axes = try TensorFamily.axes(a.axes ?? Array(0..<r), rank: r, "\(a.op) axes")
        var out = shape
        var sc = [Float](repeating: 1, count: r)
        if let sizes, !sizes.isEmpty {
            guard scales == nil || scales!.isEmpty else { throw KernelError("\(a.op) takes scales or sizes, not both") }
            guard sizes.count == axes.count else {
                throw KernelError("\(a.op) sizes \(sizes) must have one entry per resized axis (\(axes.count), input shape \(shape))")
            }
            for (i, ax) in axes.enumerated() {
                guard sizes[i] >= 0 else { throw KernelError("\(a.op) sizes \(sizes) has a negative entry") }
                guard shape[ax] > 0 || sizes[i] == 0 else {
                    throw KernelError("\(a.op) cannot resize empty axis \(ax) of shape \(shape) to \(sizes[i])")
                }
            }
            if a.policy == .stretch {
                for (i, ax) in axes.enumerated() {
                    out[ax] = sizes[i]
                    sc[ax] = shape[ax] == 0 ? 1 : Float(sizes[i]) / Float(shape[ax])
                }
            } else {
                let ratios = axes.enumerated().filter { shape[$0.element] > 0 }.map { Float(sizes[$0.offset]) / Float(shape[$0.element]) }
                let s = (a.policy == .notLarger ? ratios.min() : ratios.max()) ?? 1
                for ax in axes {
                    let n = (Double(s) * Double(shape[ax])).rounded()
                    guard n < 1e15 else { throw KernelError("\(a.op) output size \(n) on axis \(ax) is too large") }
                    out[ax] = Int(n)
                    sc[ax] = s
                }
            }
        } else {
            guard let scales, !scales.isEmpty else { throw KernelError("\(a.op) needs scales or sizes") }
            guard scales.count == axes.count else {
                throw KernelError("\(a.op) scales \(scales) must have one entry per resized axis (\(axes.count), input shape \(shape))")
            }
            for (i, ax) in axes.enumerated() {
                let s = scales[i]
                guard s > 0, s.isFinite else { throw KernelError("\(a.op) scales \(scales) must be positive and finite") }
                // The product in Float, as ONNX Runtime computes it (1.8 x 5 gives 9, not 8).
                let n = Double((s * Float(shape[ax])).rounded(.down))
                guard n < 1e15 else { throw KernelError("\(a.op) output size \(n) on axis \(ax) is too large") }
                out[ax] = Int(n)
                sc[ax] = s
            }
        }
        var box = [(Float, Float)](repeating: (0, 1), count: r)
        if a.coordinates == .tfCropAndResize {
            guard let roi, roi.count == 2 * axes.count else {
                throw KernelError("Resize tf_crop_and_resize needs roi with 2 entries per resized axis (\(axes.count)), got \(roi?.count ?? 0)")
            }
            for (i, ax) in axes.enumerated() { box[ax] = (roi[i], roi[i + axes.count]) }
        }
        return (out, sc, box)
    }

    /// The source coordinate of output index `x` on one axis.
    @inline(__always)
    static func resizeSourceCoordinate(_ x: Float, scale s: Float, outLength: Int, inLength: Int, box: (Float, Float),
                                       _ mode: ResizeCoordinates) -> Float {
        let lin = Float(inLength), lout = Float(outLength)
        switch mode {
        case .halfPixel: return (x + 0.5) / s - 0.5
        case .halfPixelSymmetric:
            let adjustment = lout / (s * lin)
            let offset = lin / 2 * (1 - adjustment)
            return offset + (x + 0.5) / s - 0.5
        case .pytorchHalfPixel: return outLength > 1 ? (x + 0.5) / s - 0.5 : 0
        case .alignCorners: return outLength == 1 ? 0 : x * (lin - 1) / (lout - 1)
        case .asymmetric: return x / s
        case .tfHalfPixelForNN: return (x + 0.5) / s
        case .tfCropAndResize:
            return outLength > 1 ? box.0 * (lin - 1) + x * (box.1 - box.0) * (lin - 1) / (lout - 1)
                : 0.5 * (box.0 + box.1) * (lin - 1)
        }
    }

    @inline(__always)
    static func resizeNearestIndex(_ x: Float, _ mode: ResizeNearest, downsampling: Bool) -> Float {
        switch mode {
        case .roundPreferFloor: return x - x.rounded(.down) == 0.5 ? x.rounded(.down) : x.rounded()
        case .roundPreferCeil: return x - x.rounded(.down) == 0.5 ? x.rounded(.up) : x.rounded()
        case .floor: return x.rounded(.down)
        case .ceil: return x.rounded(.up)
        case .simple: return downsampling ? x.rounded(.up) : x.rounded(.towardZero)
        }
    }

    /// The cubic convolution kernel with parameter `a` at distance `x`.
    @inline(__always)
    static func resizeCubic(_ x: Float, _ a: Float) -> Float {
        let t = abs(x)
        if t <= 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
        if t < 2 { return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a }
        return 0
    }

    /// The taps of one axis resized from `inLength` to `outLength` with `scale`.
    static func resizeAxisTable(inLength: Int, outLength: Int, scale: Float, box: (Float, Float),
                                _ a: ResizeAttributes) throws -> ResizeAxisTable {
        // Antialiasing widens linear and cubic filters by 1/scale when downsampling.
        let widen = a.antialias && a.mode != .nearest && scale < 1
        let support: Float = a.mode == .cubic ? 2 : 1
        let start: Int
        let taps: Int
        switch a.mode {
        case .nearest: start = 0; taps = 1
        case .linear where !widen: start = 0; taps = 2
        case .cubic where !widen: start = -1; taps = 4
        default:
            let s = (-support / scale).rounded(.down) + 1
            guard s > -1e6 else { throw KernelError("\(a.op) antialias filter for scale \(scale) is too wide") }
            start = Int(s)
            taps = 2 - 2 * start
        }
        let (cells, o) = outLength.multipliedReportingOverflow(by: taps)
        guard !o, cells <= maxElements else { throw KernelError("\(a.op) interpolation table \(outLength) x \(taps) is too large") }
        var index = [Int](repeating: 0, count: cells)
        var weight = [Float](repeating: 0, count: cells)
        var outside = [Bool](repeating: false, count: outLength)
        var anyOutside = false
        let last = inLength - 1
        let lastF = Float(last)
        var w = [Float](repeating: 0, count: taps)
        for j in 0..<outLength {
            var x = resizeSourceCoordinate(Float(j), scale: scale, outLength: outLength, inLength: inLength, box: box, a.coordinates)
            if a.coordinates == .tfCropAndResize && (x < 0 || x > lastF || x.isNaN) {
                outside[j] = true
                anyOutside = true
                continue
            }
            if !x.isFinite { x = 0 }
            let row = j * taps
            if a.mode == .nearest {
                let n = resizeNearestIndex(x, a.nearest, downsampling: scale < 1)
                index[row] = n <= 0 ? 0 : (n >= lastF ? last : Int(n))
                weight[row] = 1
                continue
            }
            if a.mode == .linear && !widen {
                // Clamping the coordinate equals the reference's edge padding for two taps.
                x = min(max(x, 0), lastF)
                // ONNX Runtime's weights: the distance to the other tap each, 0.5 / 0.5 at the edge.
                let i0 = Int(x), i1 = min(i0 + 1, last)
                index[row] = i0
                index[row + 1] = i1
                weight[row] = i0 == i1 ? 0.5 : abs(x - Float(i1))
                weight[row + 1] = i0 == i1 ? 0.5 : x - Float(i0)
                continue
            }
            let base = x.rounded(.down)
            let t = x - base
            let b = Int(max(min(base, 1e15), -1e15))
            var sum: Float = 0
            for k in 0..<taps {
                let d = Float(start + k) - t
                let v: Float
                if a.mode == .cubic {
                    v = resizeCubic(widen ? d * scale : d, a.cubicA)
                } else {
                    v = max(0, 1 - abs(d * scale))
                }
                w[k] = v
                sum += v
            }
            if widen && sum != 0 { for k in 0..<taps { w[k] /= sum } }
            if a.excludeOutside {
                var kept: Float = 0
                for k in 0..<taps {
                    let p = b &+ start &+ k
                    if p < 0 || p > last { w[k] = 0 } else { kept += w[k] }
                }
                if kept != 0 { for k in 0..<taps { w[k] /= kept } }
            }
            for k in 0..<taps {
                let p = b &+ start &+ k
                index[row + k] = p < 0 ? 0 : (p > last ? last : p)
                weight[row + k] = w[k]
            }
        }
        return ResizeAxisTable(outLength: outLength, taps: taps, index: index, weight: weight, outside: outside, anyOutside: anyOutside)
    }

    /// Resizes `x` given the already-read roi, scales and sizes inputs.
    static func resize(_ x: Tensor, roi: [Float]?, scales: [Float]?, sizes: [Int]?, _ a: ResizeAttributes,
                       pool: ThreadPool) throws -> Tensor {
        let (outShape, sc, box) = try resizeGeometry(x.shape, roi: roi, scales: scales, sizes: sizes, a)
        let total = try count(outShape)
        if total == 0 { return Tensor(unchecked: outShape, storage: .zeros(x.dtype, count: 0)) }
        let r = x.rank
        var tables: [ResizeAxisTable?] = []
        for k in 0..<r {
            guard x.shape[k] > 0 else { throw KernelError("\(a.op) input \(x.shape) is empty on axis \(k) but the output \(outShape) is not") }
            let t = try resizeAxisTable(inLength: x.shape[k], outLength: outShape[k], scale: sc[k], box: box[k], a)
            tables.append(t.isIdentity ? nil : t)
        }
        if a.mode == .nearest {
            return try resizeNearest(x, outShape: outShape, tables: tables, a, pool: pool)
        }
        guard x.dtype != .bool && x.dtype != .string else { throw KernelError("\(a.op) mode \(a.mode.rawValue) needs a numeric input, got \(x.dtype)") }
        if r >= 2, (0..<(r - 2)).allSatisfy({ tables[$0] == nil }), a.mode == .linear, !a.antialias,
           tables[r - 2]?.anyOutside != true, tables[r - 1]?.anyOutside != true {
            if case let .float32(v) = x.storage {
                return Tensor(unchecked: outShape, storage: .float32(resizeBilinear(v, shape: x.shape, outShape: outShape, tables: tables, pool: pool)))
            }
            if x.dtype != .float64 {
                // Other types go through Float and truncate back, as ONNX Runtime's int8/uint8/int32 kernels do.
                struct Body: NumericDTypeBody {
                    var x: Tensor, outShape: [Int], tables: [ResizeAxisTable?], pool: ThreadPool
                    func run<T: NumericElement>(_: T.Type) throws -> TensorStorage {
                        let f = try x.values(T.self).map { Float($0.doubleValue) }
                        let out = TensorFamily.resizeBilinear(f, shape: x.shape, outShape: outShape, tables: tables, pool: pool)
                        return T.storage(out.map { T(fromDouble: Double($0)) })
                    }
                }
                if let s = try x.dtype.dispatchNumeric(Body(x: x, outShape: outShape, tables: tables, pool: pool)) {
                    return Tensor(unchecked: outShape, storage: s)
                }
            }
        }
        struct Body: NumericDTypeBody {
            var x: Tensor, outShape: [Int], tables: [ResizeAxisTable?], fill: Float, pool: ThreadPool
            func run<T: NumericElement>(_: T.Type) throws -> TensorStorage {
                let v = try x.values(T.self)
                if T.self == Double.self {
                    let d = unsafeBitCast(v, to: [Double].self)
                    return .float64(TensorFamily.resizeSeparable(d, shape: x.shape, tables: tables, fill: Double(fill), pool: pool))
                }
                let f: [Float] = T.self == Float.self ? unsafeBitCast(v, to: [Float].self) : v.map { Float($0.doubleValue) }
                let out = TensorFamily.resizeSeparable(f, shape: x.shape, tables: tables, fill: fill, pool: pool)
                if T.self == Float.self { return .float32(out) }
                // Integers truncate toward zero (and saturate), as ONNX Runtime's int8/uint8/int32 kernels do.
                return T.storage(out.map { T(fromDouble: Double($0)) })
            }
        }
        guard let storage = try x.dtype.dispatchNumeric(Body(x: x, outShape: outShape, tables: tables, fill: a.extrapolation, pool: pool)) else {
            throw KernelError("\(a.op) does not support dtype \(x.dtype)")
        }
        return Tensor(unchecked: outShape, storage: storage)
    }

    /// Nearest neighbour: one source offset table per axis, run by the strided gather (any dtype).
    static func resizeNearest(_ x: Tensor, outShape: [Int], tables: [ResizeAxisTable?], _ a: ResizeAttributes,
                              pool: ThreadPool) throws -> Tensor {
        let strides = TensorFamily.strides(x.shape)
        var axes: [TFAxis] = []
        for (k, t) in tables.enumerated() {
            guard let t else { axes.append(.affine(offset: 0, stride: strides[k])); continue }
            axes.append(.table((0..<t.outLength).map { t.outside[$0] ? -1 : t.index[$0] &* strides[k] }))
        }
        let fill = tables.contains { $0?.anyOutside == true } ? scalarStorage(Double(a.extrapolation), dtype: x.dtype) : nil
        return try gather(x.storage, dims: outShape, axes: axes, outShape: outShape, fill: fill, pool: pool)
    }

    /// Bilinear over the last two axes of float32 data (the other axes unchanged): the per-row and
    /// per-column taps are read from the tables, so each output element is four loads and three lerps.
    static func resizeBilinear(_ src: [Float], shape: [Int], outShape: [Int], tables: [ResizeAxisTable?],
                               pool: ThreadPool) -> [Float] {
        let r = shape.count
        let ih = shape[r - 2], iw = shape[r - 1], oh = outShape[r - 2], ow = outShape[r - 1]
        let planes = product(shape, 0..<(r - 2))
        func taps(_ t: ResizeAxisTable?, _ n: Int) -> (i0: [Int], i1: [Int], w0: [Float], w1: [Float]) {
            guard let t, t.taps == 2 else {
                return (Array(0..<n), Array(0..<n), [Float](repeating: 1, count: n), [Float](repeating: 0, count: n))
            }
            var i0 = [Int](repeating: 0, count: n), i1 = i0, w0 = [Float](repeating: 0, count: n), w1 = w0
            for j in 0..<n {
                i0[j] = t.index[2 * j]
                i1[j] = t.index[2 * j + 1]
                w0[j] = t.weight[2 * j]
                w1[j] = t.weight[2 * j + 1]
            }
            return (i0, i1, w0, w1)
        }
        let (y0, y1, wy0, wy1) = taps(tables[r - 2], oh)
        let (x0, x1, wx0, wx1) = taps(tables[r - 1], ow)
        let total = planes * oh * ow
        return src.withUnsafeBufferPointer { sp in
            [Float](unsafeUninitializedCapacity: total) { out, initialized in
                let s = sp.baseAddress!, o = out.baseAddress!
                x0.withUnsafeBufferPointer { x0p in x1.withUnsafeBufferPointer { x1p in
                wx0.withUnsafeBufferPointer { c0p in wx1.withUnsafeBufferPointer { c1p in
                    pool.parallelFor(planes * oh, minChunk: max(1, 8192 / max(1, ow))) { range in
                        for row in range {
                            let p = row / oh, y = row - p * oh
                            let r0 = s + (p * ih + y0[y]) * iw, r1 = s + (p * ih + y1[y]) * iw
                            let b0 = wy0[y], b1 = wy1[y]
                            let d = o + row * ow
                            // ONNX Runtime's order of products, so integer types truncate alike.
                            for xx in 0..<ow {
                                let c0 = c0p[xx], c1 = c1p[xx]
                                let i = x0p[xx], j = x1p[xx]
                                let v = r0[i] * c0 * b0 + r0[j] * c1 * b0 + r1[i] * c0 * b1 + r1[j] * c1 * b1
                                (d + xx).initialize(to: v)
                            }
                        }
                    }
                } } } }
                initialized = total
            }
        }
    }

    /// Linear, cubic or antialiased interpolation one axis at a time: each pass reads rows of the
    /// previous result and writes the weighted sum of the tapped rows.
    static func resizeSeparable<C: BinaryFloatingPoint & Sendable>(_ src: [C], shape: [Int], tables: [ResizeAxisTable?], fill: C,
                                                                   pool: ThreadPool) -> [C] {
        var data = src
        var cur = shape
        for (axis, table) in tables.enumerated() {
            guard let t = table else { continue }
            let outer = product(cur, 0..<axis), inner = product(cur, (axis + 1)..<cur.count)
            let nIn = cur[axis], nOut = t.outLength, taps = t.taps
            let total = outer * nOut * inner
            let next = data.withUnsafeBufferPointer { sp in
                [C](unsafeUninitializedCapacity: total) { out, initialized in
                    let s = sp.baseAddress!, o = out.baseAddress!
                    o.initialize(repeating: 0, count: total)
                    t.index.withUnsafeBufferPointer { ip in t.weight.withUnsafeBufferPointer { wp in
                        pool.parallelFor(outer * nOut, minChunk: max(1, 4096 / max(1, inner * taps))) { range in
                            for row in range {
                                let b = row / nOut, j = row - b * nOut
                                let d = o + row * inner
                                if t.outside[j] {
                                    for i in 0..<inner { d[i] = fill }
                                    continue
                                }
                                for k in 0..<taps {
                                    let w = C(wp[j * taps + k])
                                    if w == 0 { continue }
                                    let sr = s + (b * nIn + ip[j * taps + k]) * inner
                                    for i in 0..<inner { d[i] += w * sr[i] }
                                }
                            }
                        }
                    } }
                    initialized = total
                }
            }
            data = next
            cur[axis] = nOut
        }
        return data
    }

    /// The float elements of a roi or scales input (any float dtype).
    static func resizeFloats(_ t: Tensor?, _ what: String) throws -> [Float]? {
        guard let t, t.count > 0 else { return nil }
        guard t.dtype.isFloatingPoint else { throw KernelError("\(what) must be a float tensor, got \(t.dtype)") }
        return t.doubles.map { Float($0) }
    }

    static func registerResize(_ r: inout KernelRegistry) {
        // Upsample-7 has the scales as an attribute, Upsample-9 and Resize-10 as input 1.
        r.register("Upsample", opsets: 7...8) { node, opset in
            let a = try ResizeAttributes(node: node, op: "Upsample", opset: opset)
            guard let scales = try node.floats("scales") else { throw KernelError("Upsample needs a 'scales' attribute") }
            return { inputs, ctx in [try resize(try inputs.required(0), roi: nil, scales: scales, sizes: nil, a, pool: ctx.pool)] }
        }
        let legacy: KernelFactory = { node, opset in
            let a = try ResizeAttributes(node: node, op: node.opType, opset: opset)
            return { inputs, ctx in
                let scales = try resizeFloats(try inputs.required(1), "\(a.op) scales")
                return [try resize(try inputs.required(0), roi: nil, scales: scales, sizes: nil, a, pool: ctx.pool)]
            }
        }
        r.register("Upsample", opsets: 9...9, legacy)
        r.register("Resize", opsets: 10...10, legacy)
        // 11: roi/scales/sizes, cubic, coordinate modes; 13: roi and scales optional; 18: antialias,
        // axes, keep_aspect_ratio_policy; 19: half_pixel_symmetric. The attributes read depend on the opset.
        let modern: KernelFactory = { node, opset in
            let a = try ResizeAttributes(node: node, op: "Resize", opset: opset)
            return { inputs, ctx in
                let roi = try resizeFloats(inputs.optional(1), "Resize roi")
                let scales = try resizeFloats(inputs.optional(2), "Resize scales")
                let sizes = try inputs.optional(3).flatMap { $0.count > 0 ? try ints($0, "Resize sizes") : nil }
                return [try resize(try inputs.required(0), roi: roi, scales: scales, sizes: sizes, a, pool: ctx.pool)]
            }
        }
        r.register("Resize", opsets: 11...12, modern)
        r.register("Resize", opsets: 13...17, modern)
        r.register("Resize", opsets: 18...18, modern)
        r.register("Resize", opsets: 19...21, modern)
    }
}
