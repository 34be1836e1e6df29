import BerthONNX
import BerthTensor
import Foundation

// MaxPool, AveragePool, LpPool and the global pools. Every windowed pool runs on a 3-D view of the
// spatial axes (see `NNWindowGeometry.as3D`), one (N, C) plane per parallel work item.

/// The per-axis tap ranges of every output position, precomputed once per call so that the inner
/// loops have no divisions or bounds tests.
struct NNTapTable {
    var start: [Int]
    var lo: [Int]
    var hi: [Int]
    /// Taps counted when padding is included (AveragePool count_include_pad).
    var padCount: [Int]

    init(_ g: NNWindowGeometry, axis: Int) {
        let n = g.output[axis]
        start = []; lo = []; hi = []; padCount = []
        start.reserveCapacity(n); lo.reserveCapacity(n); hi.reserveCapacity(n); padCount.reserveCapacity(n)
        let d = g.dilations[axis]
        let limit = g.input[axis] + g.padsEnd[axis]
        for o in 0..<n {
            let t = g.taps(axis: axis, o)
            start.append(t.start); lo.append(t.lo); hi.append(t.hi)
            // Taps inside [-padBegin, size + padEnd); the start is never before -padBegin.
            let inPad = t.start >= limit ? 0 : min(g.kernel[axis], (limit - t.start + d - 1) / d)
            padCount.append(inPad)
        }
    }
}

/// Work items (planes) per parallel chunk so that each chunk does at least ~32k window taps.
@inline(__always)
private func nnPlanesPerChunk(_ g: NNWindowGeometry) -> Int {
    var perPlane = 1
    for v in g.output + g.kernel {
        let (p, overflow) = perPlane.multipliedReportingOverflow(by: max(1, v))
        if overflow { return 1 }
        perPlane = p
    }
    return max(1, 32_768 / perPlane)
}

/// Max pooling over `planes` planes of a 3-D geometry; writes flat input indices when asked.
private func nnMaxPool<T: NumericElement>(
    _ x: [T], planes: Int, g: NNWindowGeometry, lowest: T, wantIndices: Bool, columnMajor: Bool, pool: ThreadPool
) -> (values: [T], indices: [Int64]) {
    let (D, H, W) = (g.input[0], g.input[1], g.input[2])
    let (OD, OH, OW) = (g.output[0], g.output[1], g.output[2])
    let inPlane = D * H * W, outPlane = OD * OH * OW
    let total = planes * outPlane
    guard total > 0, !x.isEmpty else {
        return ([T](repeating: lowest, count: total), [Int64](repeating: 0, count: wantIndices ? total : 0))
    }
    let td = NNTapTable(g, axis: 0), th = NNTapTable(g, axis: 1), tw = NNTapTable(g, axis: 2)
    let (dd, dh, dw) = (g.dilations[0], g.dilations[1], g.dilations[2])
    var indices = [Int64]()
    if wantIndices { indices = [Int64](repeating: 0, count: total) }
    let values = [T](unsafeUninitializedCapacity: total) { yb, n in
        x.withUnsafeBufferPointer { xb in
            indices.withUnsafeMutableBufferPointer { ib in
                let xp = xb.baseAddress!, yp = yb.baseAddress!
                let ip = wantIndices ? ib.baseAddress : nil
                pool.parallelFor(planes, minChunk: nnPlanesPerChunk(g)) { range in
                    for p in range {
                        let xPlane = xp + p * inPlane
                        var o = p * outPlane
                        for od in 0..<OD {
                            let ds = td.start[od], dlo = td.lo[od], dhi = td.hi[od]
                            for oh in 0..<OH {
                                let hs = th.start[oh], hlo = th.lo[oh], hhi = th.hi[oh]
                                for ow in 0..<OW {
                                    let ws = tw.start[ow], wlo = tw.lo[ow], whi = tw.hi[ow]
                                    var best = lowest
                                    var bestAt = -1
                                    for kd in dlo..<dhi {
                                        let id = ds + kd * dd
                                        for kh in hlo..<hhi {
                                            let row = (id * H + hs + kh * dh) * W
                                            for kw in wlo..<whi {
                                                let at = row + ws + kw * dw
                                                let v = xPlane[at]
                                                if bestAt < 0 || v > best { best = v; bestAt = at }
                                            }
                                        }
                                    }
                                    (yp + o).initialize(to: best)
                                    if let ip {
                                        var flat = max(0, bestAt)
                                        if columnMajor {
                                            let w = flat % W, h = (flat / W) % H, d = flat / (W * H)
                                            flat = d + h * D + w * D * H
                                        }
                                        ip[o] = Int64(p * inPlane + flat)
                                    }
                                    o += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        n = total
    }
    return (values, indices)
}

/// Per-kernel-column output ranges on the innermost axis: for tap `kw`, the output columns whose
/// input column `ow * sw + kw * dw - pw` lies inside the row.
struct NNColumnRanges {
    var offset: [Int]
    var lo: [Int]
    var hi: [Int]

    init(_ g: NNWindowGeometry) {
        let (W, KW, OW) = (g.input[2], g.kernel[2], g.output[2])
        let (sw, dw, pw) = (g.strides[2], g.dilations[2], g.padsBegin[2])
        offset = []; lo = []; hi = []
        for kw in 0..<KW {
            let off = kw * dw - pw
            let l = off < 0 ? min(OW, (-off + sw - 1) / sw) : 0
            let h = W - off <= 0 ? l : max(l, min(OW, (W - off + sw - 1) / sw))
            offset.append(off); lo.append(l); hi.append(h)
        }
    }
}

/// Max pooling without indices, one output row at a time: every valid kernel row is folded into
/// the output row with a branch-free strided max, which pipelines far better than per-output
/// window scans.
private func nnMaxPoolRows<T: NumericElement>(_ x: [T], planes: Int, g: NNWindowGeometry, lowest: T, pool: ThreadPool) -> [T] {
    let (D, H, W) = (g.input[0], g.input[1], g.input[2])
    let (OD, OH, OW) = (g.output[0], g.output[1], g.output[2])
    let inPlane = D * H * W, outPlane = OD * OH * OW
    let total = planes * outPlane
    guard total > 0, !x.isEmpty else { return [T](repeating: lowest, count: total) }
    let td = NNTapTable(g, axis: 0), th = NNTapTable(g, axis: 1)
    let cols = NNColumnRanges(g)
    let KW = g.kernel[2], sw = g.strides[2]
    let (dd, dh) = (g.dilations[0], g.dilations[1])
    let pair2x2 = D == 1 && g.kernel == [1, 2, 2] && g.strides[1...] == [2, 2] && g.dilations[1...] == [1, 1]
        && g.padsBegin == [0, 0, 0] && 2 * OH <= H && 2 * OW <= W
    return [T](unsafeUninitializedCapacity: total) { yb, n in
        x.withUnsafeBufferPointer { xb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            pool.parallelFor(planes, minChunk: nnPlanesPerChunk(g)) { range in
                for p in range {
                    let xPlane = xp + p * inPlane
                    var yrow = yp + p * outPlane
                    if pair2x2 {
                        // The common 2x2 / stride 2 / unpadded window: one pass over two input rows.
                        for oh in 0..<OH {
                            let a = xPlane + 2 * oh * W, b = a + W
                            for ow in 0..<OW {
                                let a0 = a[2 * ow], a1 = a[2 * ow + 1], b0 = b[2 * ow], b1 = b[2 * ow + 1]
                                let m0 = a1 > a0 ? a1 : a0, m1 = b1 > b0 ? b1 : b0
                                yrow[ow] = m1 > m0 ? m1 : m0
                            }
                            yrow += OW
                        }
                        continue
                    }
                    for od in 0..<OD {
                        for oh in 0..<OH {
                            yrow.initialize(repeating: lowest, count: OW)
                            for kd in td.lo[od]..<td.hi[od] {
                                let id = td.start[od] + kd * dd
                                for kh in th.lo[oh]..<th.hi[oh] {
                                    let xrow = xPlane + (id * H + th.start[oh] + kh * dh) * W
                                    for kw in 0..<KW {
                                        let lo = cols.lo[kw], hi = cols.hi[kw]
                                        guard lo < hi else { continue }
                                        var src = xrow + (lo * sw + cols.offset[kw])
                                        var ow = lo
                                        while ow < hi {
                                            // A select, not a branch: random data mispredicts half the time.
                                            let v = src.pointee, cur = yrow[ow]
                                            yrow[ow] = v > cur ? v : cur
                                            src += sw
                                            ow &+= 1
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
        n = total
    }
}

/// Average (or Lp-norm when `p` is set) pooling over a 3-D geometry, for floating-point types.
private func nnAveragePool<T: BinaryFloatingPoint & NumericElement>(
    _ x: [T], planes: Int, g: NNWindowGeometry, countIncludePad: Bool, lpPower p: Int?, pool: ThreadPool
) -> [T] {
    let (D, H, W) = (g.input[0], g.input[1], g.input[2])
    let (OD, OH, OW) = (g.output[0], g.output[1], g.output[2])
    let inPlane = D * H * W, outPlane = OD * OH * OW
    let total = planes * outPlane
    guard total > 0, !x.isEmpty else { return [T](repeating: 0, count: total) }
    let td = NNTapTable(g, axis: 0), th = NNTapTable(g, axis: 1), tw = NNTapTable(g, axis: 2)
    let (dd, dh, dw) = (g.dilations[0], g.dilations[1], g.dilations[2])
    return [T](unsafeUninitializedCapacity: total) { yb, n in
        x.withUnsafeBufferPointer { xb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!
            pool.parallelFor(planes, minChunk: nnPlanesPerChunk(g)) { range in
                for pl in range {
                    let xPlane = xp + pl * inPlane
                    var o = pl * outPlane
                    for od in 0..<OD {
                        let ds = td.start[od], dlo = td.lo[od], dhi = td.hi[od]
                        for oh in 0..<OH {
                            let hs = th.start[oh], hlo = th.lo[oh], hhi = th.hi[oh]
                            for ow in 0..<OW {
                                let ws = tw.start[ow], wlo = tw.lo[ow], whi = tw.hi[ow]
                                var sum: T = 0
                                for kd in dlo..<dhi {
                                    let id = ds + kd * dd
                                    for kh in hlo..<hhi {
                                        let row = (id * H + hs + kh * dh) * W + ws
                                        if let p {
                                            for kw in wlo..<whi {
                                                let v = abs(xPlane[row + kw * dw])
                                                sum += p == 1 ? v : (p == 2 ? v * v : T(pow(Double(v), Double(p))))
                                            }
                                        } else {
                                            for kw in wlo..<whi { sum += xPlane[row + kw * dw] }
                                        }
                                    }
                                }
                                let result: T
                                if let p {
                                    result = p == 1 ? sum : (p == 2 ? sum.squareRoot() : T(pow(Double(sum), 1 / Double(p))))
                                } else {
                                    let count = countIncludePad
                                        ? td.padCount[od] * th.padCount[oh] * tw.padCount[ow]
                                        : (dhi - dlo) * (hhi - hlo) * (whi - wlo)
                                    result = count > 0 ? sum / T(count) : 0
                                }
                                (yp + o).initialize(to: result)
                                o += 1
                            }
                        }
                    }
                }
            }
        }
        n = total
    }
}

/// Resolves the 3-D geometry and output shape of a windowed pool.
private func nnPoolSetup(_ x: Tensor, attrs: NNWindowAttributes, op: String) throws -> (planes: Int, g3: NNWindowGeometry, outShape: [Int]) {
    let (n, c, spatial) = try nnSplitNC(x.shape, op: op)
    guard let kernel = attrs.kernelShape else { throw KernelError("\(op) requires the kernel_shape attribute") }
    let g = try attrs.geometry(input: spatial, kernel: kernel)
    guard let g3 = g.as3D else { throw KernelError("\(op) supports 1 to 3 spatial axes, got \(spatial.count)") }
    let outShape = [n, c] + g.output
    _ = try Shape.elementCount(outShape)
    let (planes, o) = n.multipliedReportingOverflow(by: c)
    guard !o else { throw KernelError("\(op) input shape \(x.shape) is too large") }
    return (planes, g3, outShape)
}

private func nnMaxPoolTensor(_ x: Tensor, attrs: NNWindowAttributes, wantIndices: Bool, columnMajor: Bool, pool: ThreadPool) throws -> [Tensor] {
    let (planes, g, outShape) = try nnPoolSetup(x, attrs: attrs, op: "MaxPool")
    func run<T: NumericElement>(_ v: [T], _ lowest: T) -> [Tensor] {
        if !wantIndices {
            return [Tensor(unchecked: outShape, storage: T.storage(nnMaxPoolRows(v, planes: planes, g: g, lowest: lowest, pool: pool)))]
        }
        let r = nnMaxPool(v, planes: planes, g: g, lowest: lowest, wantIndices: wantIndices, columnMajor: columnMajor, pool: pool)
        var out = [Tensor(unchecked: outShape, storage: T.storage(r.values))]
        if wantIndices { out.append(Tensor(unchecked: outShape, storage: .int64(r.indices))) }
        return out
    }
    switch x.storage {
    case let .float32(v): return run(v, -Float.infinity)
    case let .float64(v): return run(v, -Double.infinity)
    case let .float16(v): return run(v, -Float16.infinity)
    case let .int8(v): return run(v, Int8.min)
    case let .uint8(v): return run(v, UInt8.min)
    case let .int16(v): return run(v, Int16.min)
    case let .int32(v): return run(v, Int32.min)
    case let .int64(v): return run(v, Int64.min)
    default: throw KernelError("MaxPool does not support dtype \(x.dtype)")
    }
}

private func nnAveragePoolTensor(_ x: Tensor, attrs: NNWindowAttributes, countIncludePad: Bool, lpPower: Int?, op: String, pool: ThreadPool) throws -> Tensor {
    let (planes, g, outShape) = try nnPoolSetup(x, attrs: attrs, op: op)
    switch x.storage {
    case let .float32(v):
        return Tensor(unchecked: outShape, storage: .float32(nnAveragePool(v, planes: planes, g: g, countIncludePad: countIncludePad, lpPower: lpPower, pool: pool)))
    case let .float64(v):
        return Tensor(unchecked: outShape, storage: .float64(nnAveragePool(v, planes: planes, g: g, countIncludePad: countIncludePad, lpPower: lpPower, pool: pool)))
    case let .float16(v):
        let f = v.map { Float($0) }
        let r = nnAveragePool(f, planes: planes, g: g, countIncludePad: countIncludePad, lpPower: lpPower, pool: pool)
        return Tensor(unchecked: outShape, storage: .float16(r.map { Float16($0) }))
    default: throw KernelError("\(op) expects a floating-point input, got \(x.dtype)")
    }
}

/// GlobalAveragePool / GlobalMaxPool / GlobalLpPool: one reduction per (N, C) plane.
private func nnGlobalPool(_ x: Tensor, kind: Int, p: Int, op: String, pool: ThreadPool) throws -> Tensor {
    let (n, c, spatial) = try nnSplitNC(x.shape, op: op)
    let planes = n * c
    let size = try Shape.elementCount(spatial)
    let outShape = [n, c] + Array(repeating: 1, count: spatial.count)
    func run<T: BinaryFloatingPoint & NumericElement>(_ v: [T]) -> [T] {
        if v.isEmpty { return [T](repeating: 0, count: planes) }
        return [T](unsafeUninitializedCapacity: planes) { yb, cnt in
            v.withUnsafeBufferPointer { xb in
                let yp = yb.baseAddress!
                pool.parallelFor(planes, minChunk: max(1, 32_768 / max(1, size))) { range in
                    for pl in range {
                        let row = UnsafeBufferPointer(rebasing: xb[(pl * size)..<(pl * size + size)])
                        var r: T
                        switch kind {
                        case 0:
                            var s: T = 0
                            for e in row { s += e }
                            r = size > 0 ? s / T(size) : 0
                        case 1:
                            r = row.first ?? 0
                            for e in row where e > r { r = e }
                        default:
                            var s: T = 0
                            for e in row { let a = abs(e); s += p == 2 ? a * a : (p == 1 ? a : T(pow(Double(a), Double(p)))) }
                            r = p == 2 ? s.squareRoot() : (p == 1 ? s : T(pow(Double(s), 1 / Double(p))))
                        }
                        (yp + pl).initialize(to: r)
                    }
                }
            }
            cnt = planes
        }
    }
    switch x.storage {
    case let .float32(v): return Tensor(unchecked: outShape, storage: .float32(run(v)))
    case let .float64(v): return Tensor(unchecked: outShape, storage: .float64(run(v)))
    case let .float16(v): return Tensor(unchecked: outShape, storage: .float16(run(v.map { Float($0) }).map { Float16($0) }))
    default: throw KernelError("\(op) expects a floating-point input, got \(x.dtype)")
    }
}

extension KernelRegistry {
    /// Registers MaxPool, AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool and GlobalLpPool.
    mutating func registerPoolingKernels() {
        register("MaxPool", opsets: 1...Int.max) { node, _ in
            let attrs = try NNWindowAttributes(node: node)
            let columnMajor = try node.int("storage_order", default: 0) != 0
            let wantIndices = node.outputs.count > 1 && !node.outputs[1].isEmpty
            return { inputs, ctx in
                try nnMaxPoolTensor(try inputs.required(0), attrs: attrs, wantIndices: wantIndices, columnMajor: columnMajor, pool: ctx.pool)
            }
        }
        register("AveragePool", opsets: 1...Int.max) { node, _ in
            let attrs = try NNWindowAttributes(node: node)
            let includePad = try node.int("count_include_pad", default: 0) != 0
            return { inputs, ctx in
                [try nnAveragePoolTensor(try inputs.required(0), attrs: attrs, countIncludePad: includePad, lpPower: nil, op: "AveragePool", pool: ctx.pool)]
            }
        }
        register("LpPool", opsets: 1...Int.max) { node, opset in
            let attrs = try NNWindowAttributes(node: node)
            let p = opset < 2 ? Int(try node.float("p", default: 2)) : try node.int("p", default: 2)
            guard p >= 1 else { throw KernelError("LpPool p must be >= 1, got \(p)") }
            return { inputs, ctx in
                [try nnAveragePoolTensor(try inputs.required(0), attrs: attrs, countIncludePad: false, lpPower: p, op: "LpPool", pool: ctx.pool)]
            }
        }
        register("GlobalAveragePool", opsets: 1...Int.max) { _, _ in
            { inputs, ctx in [try nnGlobalPool(try inputs.required(0), kind: 0, p: 0, op: "GlobalAveragePool", pool: ctx.pool)] }
        }
        register("GlobalMaxPool", opsets: 1...Int.max) { _, _ in
            { inputs, ctx in [try nnGlobalPool(try inputs.required(0), kind: 1, p: 0, op: "GlobalMaxPool", pool: ctx.pool)] }
        }
        register("GlobalLpPool", opsets: 1...Int.max) { node, opset in
            let p = opset < 2 ? Int(try node.float("p", default: 2)) : try node.int("p", default: 2)
            guard p >= 1 else { throw KernelError("GlobalLpPool p must be >= 1, got \(p)") }
            return { inputs, ctx in [try nnGlobalPool(try inputs.required(0), kind: 2, p: p, op: "GlobalLpPool", pool: ctx.pool)] }
        }
    }
}
