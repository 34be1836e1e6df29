import BerthONNX
import BerthTensor
import Foundation
#if canImport(CDNNL)
import CDNNL
#endif

/// A fused 8-bit convolution (`QuantizedConv`, from ``QuantizedConvFusion``) as a member of a
/// blocked-layout region (``BlockedLayoutPass``): its float input is taken in whatever layout the
/// region's previous primitive left it (nhwc or nChw16c), quantized in that layout (dynamic:
/// DynamicQuantizeLinear's range over the tensor; static: the file's scale and zero point), and
/// the int8 convolution writes f32 through oneDNN's epilogue (scales, bias, Relu) in its own
/// layout, which the next pooling, activation, Add or convolution reads as it is. Compared with
/// the lone `QuantizedConv` kernel this saves, per convolution, the f32 output's reorder back to
/// NCHW and the u8 input's reorder, and lets MaxPool and the rest run on oneDNN between them.
///
/// The quantized values are those the lone kernel computes (same range, same rounding: padding
/// channels of a blocked layout hold zeros, which DynamicQuantizeLinear's range includes anyway),
/// so a region's results equal the unfused kernel's up to oneDNN's float epilogue.
final class BlockedInt8Conv: @unchecked Sendable {
    let attributes: NNConvAttributes
    /// 1: X is quantized as DynamicQuantizeLinear does; 0: with inputs 1 and 2 (QDQ).
    let dynamic: Bool
    let relu: Bool

    /// Reads a `QuantizedConv` node's attributes (nil for another node or attributes it cannot take).
    init?(_ n: Node) {
        guard n.opType == "QuantizedConv", n.domain == FusedOps.domain, n.inputs.count >= 6,
              let d = try? n.int("dynamic", default: 0), d == 0 || d == 1, let r = try? n.int("relu", default: 0) else { return nil }
        var plain = n
        plain.attributes["dynamic"] = nil
        plain.attributes["relu"] = nil
        guard let a = try? NNConvAttributes(node: plain) else { return nil }
        attributes = a
        dynamic = d == 1
        relu = r != 0
    }

    /// True when the constants the region path needs are initializers of the types it takes:
    /// int8 (or uint8) 4-D weights, float weight scales, float [M] bias; for QDQ a scalar float
    /// activation scale and a scalar 8-bit zero point. Values are checked again per call. Without
    /// VNNI the node keeps its own (exact, portable) kernel outside regions, as before.
    static func isCapable(_ n: Node, _ g: Graph) -> Bool {
        guard Int8MatMulBackend.isAvailable, let q = BlockedInt8Conv(n), let w = g.initializers[n.inputs[3]], w.rank == 4, w.dtype == .int8 || w.dtype == .uint8,
              g.initializers[n.inputs[4]]?.dtype == .float32 else { return false }
        if !n.inputs[5].isEmpty, g.initializers[n.inputs[5]] == nil { return false }
        if n.inputs.count > 6, !n.inputs[6].isEmpty, g.initializers[n.inputs[6]]?.dtype != .float32 { return false }
        if !q.dynamic {
            guard g.initializers[n.inputs[1]].map({ $0.dtype == .float32 && $0.count == 1 }) ?? false else { return false }
            if !n.inputs[2].isEmpty {
                guard let z = g.initializers[n.inputs[2]], z.count == 1, z.dtype == .uint8 || z.dtype == .int8 else { return false }
            }
        }
        return true
    }

    #if canImport(CDNNL)
    private let cache = Int8ConvCache()

    /// The convolution of the region value (its oneDNN copy `blocked`, else its plain tensor) with
    /// dims `d`; `inputs` are the member's plain inputs (weights, scales, zero points, bias).
    /// nil where this call must use the unfused kernel (no VNNI, weights not int8 with zero point
    /// 0 nor uint8 with 128, a layout or shape oneDNN refuses).
    func run(blocked: DNNL.Blocked?, plain: Tensor?, dims d: [Int], inputs: [Tensor?], pool: DNNL.BufferPool, threads: Int) throws -> DNNL.Blocked? {
        guard Int8MatMulBackend.isAvailable, inputs.count >= 6, let w = inputs[3], w.rank == 4, let wsT = inputs[4] else { return nil }
        let wZero = try Tensor.zeroPoints(inputs[5])
        switch (w.dtype, Set(wZero)) {
        case (.int8, [0]), (.uint8, [128]): break
        default: return nil
        }
        let m = w.shape[0]
        let ws = try contribFloats(wsT, "QuantizedConv w_scale")
        guard ws.count == 1 || ws.count == m, ws.allSatisfy(\.isFinite) else { return nil }
        let bias = try (inputs.count > 6 ? inputs[6] : nil).map { try contribFloats($0, "QuantizedConv bias") } ?? [Float](repeating: 0, count: m)
        guard bias.count == m, let s = try? attributes.shapes(x: d, w: w.shape, op: "QuantizedConv"),
              try Shape.elementCount(s.outShape) > 0 else { return nil }

        // The float source and its layout.
        let srcMD: dnnl_memory_desc_t
        if let blocked { srcMD = blocked.md } else { srcMD = try DNNL.plainDesc(d) }
        let tags = [dnnl_abcd, dnnl_acdb, dnnl_aBcd16b, dnnl_aBcd8b, dnnl_aBcd4b]
        guard let tag = try tags.first(where: { DNNL.same(srcMD, try DNNL.typedDesc(d, dnnl_f32, $0)) }) else { return nil }
        let floatCount = DNNL.size(srcMD) / MemoryLayout<Float>.stride

        // The activation's scale and zero point.
        var scale: Float, zero: Int32, signed = false
        if dynamic {
            let range: (lo: Float, hi: Float)
            if let blocked {
                range = MathQuantization.range(UnsafeBufferPointer(start: blocked.buffer.pointer.assumingMemoryBound(to: Float.self), count: floatCount))
            } else {
                guard case let .float32(v)? = plain?.storage, v.count == floatCount else { return nil }
                range = v.withUnsafeBufferPointer { MathQuantization.range($0) }
            }
            (scale, zero) = MathQuantization.dynamicParameters(range)
        } else {
            guard let st = inputs[1], st.count == 1, st.dtype == .float32 else { return nil }
            scale = st.floats[0]
            zero = 0
            if let zt = inputs[2] {
                guard zt.count == 1, zt.dtype == .uint8 || zt.dtype == .int8 else { return nil }
                signed = zt.dtype == .int8
                zero = try Tensor.zeroPoints(zt)[0]
            }
        }
        guard scale.isFinite, scale > 0 else { return nil }

        let spec = DNNL.Int8ConvSpec(input: d, output: s.outShape, weights: w.shape, group: attributes.group, strides: s.g.strides,
                                     dilations: s.g.dilations, padsBegin: s.g.padsBegin, padsEnd: s.g.padsEnd, signedSrc: signed,
                                     threads: threads, epilogue: DNNL.Int8Epilogue(weightScales: ws, relu: relu))
        guard let (conv, packed) = cache.prepared(spec, weights: w) else { return nil }

        // Quantize in the source's own layout, then reorder (8-bit) only if the convolution reads another.
        let quantizedMD = try DNNL.typedDesc(d, signed ? dnnl_s8 : dnnl_u8, tag)
        guard DNNL.size(quantizedMD) == floatCount else { return nil }
        var q = pool.take(floatCount)
        let (lo, hi): (Int32, Int32) = signed ? (-128, 127) : (0, 255)
        if let blocked {
            MathQuantization.quantizeLevels(UnsafeBufferPointer(start: blocked.buffer.pointer.assumingMemoryBound(to: Float.self), count: floatCount),
                                   into: q.pointer, scale: scale, zero: zero, lo: lo, hi: hi)
        } else if case let .float32(v)? = plain?.storage {
            v.withUnsafeBufferPointer { MathQuantization.quantizeLevels($0, into: q.pointer, scale: scale, zero: zero, lo: lo, hi: hi) }
        }
        if !DNNL.same(quantizedMD, conv.srcMD) {
            let r = pool.take(DNNL.size(conv.srcMD))
            try DNNL.reorder(from: quantizedMD, to: conv.srcMD).run(q.pointer, r.pointer)
            pool.give(q)
            q = r
        }
        defer { pool.give(q) }
        let dst = pool.take(DNNL.size(conv.dstMD))
        if DNNL.isPadded(conv.dstMD, dims: s.outShape) { dst.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: dst.bytes) }
        let scratch = pool.take(DNNL.size(conv.scratchMD))
        defer { pool.give(scratch) }
        var z = zero, sc = scale
        do {
            try withUnsafeMutablePointer(to: &z) { zp in
                try withUnsafeMutablePointer(to: &sc) { sp in
                    try bias.withUnsafeBufferPointer { bp in
                        try conv.conv.execute([
                            (CDNNL_ARG_SRC, conv.srcMD, q.pointer), (CDNNL_ARG_WEIGHTS, conv.weightsMD, packed.pointer),
                            (CDNNL_ARG_DST, conv.dstMD, dst.pointer), (CDNNL_ARG_SCRATCHPAD, conv.scratchMD, scratch.pointer),
                            (DNNL.epilogueZeroArg, conv.zeroMD, UnsafeMutableRawPointer(zp)),
                            (DNNL.epilogueScaleArg, conv.scaleMD, UnsafeMutableRawPointer(sp)),
                            (DNNL.epilogueBiasArg, conv.biasMD, UnsafeMutableRawPointer(mutating: bp.baseAddress!)),
                        ])
                    }
                }
            }
        } catch {
            pool.give(dst)
            throw error
        }
        return DNNL.Blocked(dims: s.outShape, md: conv.dstMD, buffer: dst)
    }
    #endif
}

/// `FakeQuantize` (from ``QDQPairFusion``): inputs X (float), scale (scalar float), zero point
/// (optional scalar int8 / uint8); `Y = (clamp(round(X / scale) + zero) − zero) · scale`, what
/// QuantizeLinear then DequantizeLinear compute. Element-wise, so a region runs it on any layout.
enum FakeQuantize {
    /// Scale, zero point and the 8-bit type's bounds; nil when the inputs are not of this form.
    static func parameters(_ scale: Tensor?, _ zero: Tensor?) throws -> (scale: Float, zero: Int32, lo: Int32, hi: Int32)? {
        guard let scale, scale.dtype == .float32, scale.count == 1 else { return nil }
        var z: Int32 = 0, signed = false
        if let zero {
            guard zero.count == 1, zero.dtype == .uint8 || zero.dtype == .int8 else { return nil }
            signed = zero.dtype == .int8
            z = try Tensor.zeroPoints(zero)[0]
        }
        return (scale.floats[0], z, signed ? -128 : 0, signed ? 127 : 255)
    }

    /// `out[i] = (level(x[i]) − zero) · scale` (NaN → 0, as its zero-point level dequantizes).
    static func run(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Float>, scale: Float, zero: Int32, lo: Int32, hi: Int32) {
        // MathQuantization.quantizeLevels's level minus z, kept in floats: x / scale clamped to
        // [lo − z, hi − z], rounded half to even by adding and subtracting 1.5·2²³ (no fast-math,
        // so the two are not folded), times the scale.
        let lof = Float(lo - zero), hif = Float(hi - zero)
        for i in 0..<x.count {
            let q = x[i] / scale
            let c = q.isNaN ? 0 : min(max(q, lof), hif)
            out[i] = ((c + 12_582_912) - 12_582_912) * scale
        }
    }

    /// True when the node's scale and zero point are initializers of the form above.
    static func isCapable(_ n: Node, _ g: Graph) -> Bool {
        guard n.inputs.count >= 2, let s = g.initializers[n.inputs[1]], s.dtype == .float32, s.count == 1 else { return false }
        guard n.inputs.count > 2, !n.inputs[2].isEmpty else { return true }
        guard let z = g.initializers[n.inputs[2]] else { return false }
        return z.count == 1 && (z.dtype == .uint8 || z.dtype == .int8)
    }

    #if canImport(CDNNL)
    /// The region path: `x` in its own layout (padding zeros stay zeros), into a new buffer of that layout.
    static func run(_ x: DNNL.Blocked, scale: Tensor?, zero: Tensor?, pool: DNNL.BufferPool) throws -> DNNL.Blocked? {
        guard let p = try parameters(scale, zero) else { return nil }
        let count = DNNL.size(x.md) / MemoryLayout<Float>.stride
        let dst = pool.take(DNNL.size(x.md))
        run(UnsafeBufferPointer(start: x.buffer.pointer.assumingMemoryBound(to: Float.self), count: count),
            into: dst.pointer.assumingMemoryBound(to: Float.self), scale: p.scale, zero: p.zero, lo: p.lo, hi: p.hi)
        return DNNL.Blocked(dims: x.dims, md: x.md, buffer: dst)
    }
    #endif
}

extension KernelRegistry {
    mutating func registerFakeQuantize() {
        register("FakeQuantize", domain: FusedOps.domain, opsets: 0...Int.max) { _, _ in
            return { inputs, _ in
                let x = try inputs.required(0)
                guard case let .float32(v) = x.storage else { throw KernelError("FakeQuantize needs a float input, got \(x.dtype)") }
                guard let p = try FakeQuantize.parameters(try inputs.required(1), inputs.optional(2)) else {
                    throw KernelError("FakeQuantize needs a scalar float scale and a scalar int8 / uint8 zero point")
                }
                let y = [Float](unsafeUninitializedCapacity: v.count) { o, n in
                    v.withUnsafeBufferPointer { FakeQuantize.run($0, into: o.baseAddress!, scale: p.scale, zero: p.zero, lo: p.lo, hi: p.hi) }
                    n = v.count
                }
                return [Tensor(unchecked: x.shape, storage: .float32(y))]
            }
        }
    }
}

