import BerthONNX
import BerthTensor
import Foundation

/// Per-node state of an 8-bit convolution on oneDNN (``DNNL/Int8Convolution``): one primitive per
/// input shape, the int8 weights packed once per weight array. Exact int32 sums of
/// `(x − x_zero_point) · w`; nil (portable path) where oneDNN is absent, the CPU has no VNNI and
/// the weights or activations could saturate its 16-bit pair sums, the weights are not int8 with zero point 0 (uint8 weights with zero point 128 are shifted to that),
/// or oneDNN refuses the shape.
final class Int8ConvBackend: @unchecked Sendable {
    #if canImport(CDNNL)
    private let cache = Int8ConvCache()
    /// Guards ``checked``.
    private let lock = NSLock()
    #endif

    func sums(x: Tensor, xZero: Int32, w: Tensor, wZero: [Int32], attrs: NNConvAttributes, threads: Int) throws -> Tensor? {
        try run(x: x, xZero: xZero, w: w, wZero: wZero, attrs: attrs, threads: threads, epilogue: nil)
    }

    /// `relu?(float(conv(x − xZero, w)) · xScale · wScales[m] + bias[m])` written by oneDNN in f32
    /// (``DNNL/Int8Epilogue``); nil where the fast path does not apply.
    func scaled(x: Tensor, xZero: Int32, xScale: Float, w: Tensor, wZero: [Int32], wScales: [Float], bias: [Float], relu: Bool,
                attrs: NNConvAttributes, threads: Int) throws -> Tensor? {
        #if canImport(CDNNL)
        guard xScale.isFinite, wScales.allSatisfy({ $0.isFinite }), w.rank >= 3, bias.count == w.shape[0],
              wScales.count == 1 || wScales.count == w.shape[0] else { return nil }
        return try run(x: x, xZero: xZero, w: w, wZero: wZero, attrs: attrs, threads: threads,
                       epilogue: (DNNL.Int8Epilogue(weightScales: wScales, relu: relu), xScale, bias))
        #else
        return nil
        #endif
    }

    #if canImport(CDNNL)
    /// The last weight array checked for ``fitsPairSums(_:)`` (kept alive, so its address stays its own).
    private var checked: (source: Tensor, address: UnsafeRawPointer?, fits: Bool)?

    /// Whether every weight (as int8, uint8 ones after the shift by 128) is within ±64, checked once
    /// per weight array.
    private func fitsPairSums(_ w: Tensor) -> Bool {
        let address = Int8ConvEntry.address(w)
        lock.lock()
        defer { lock.unlock() }
        if let c = checked, c.address == address, address != nil { return c.fits }
        let fits: Bool
        switch w.storage {
        case let .int8(v): fits = v.allSatisfy { (-64...64).contains($0) }
        case let .uint8(v): fits = v.allSatisfy { (64...192).contains($0) }
        default: fits = false
        }
        checked = (w, address, fits)
        return fits
    }

    private typealias Epilogue = (spec: DNNL.Int8Epilogue, scale: Float, bias: [Float])
    #else
    private typealias Epilogue = Void
    #endif

    private func run(x: Tensor, xZero: Int32, w: Tensor, wZero: [Int32], attrs: NNConvAttributes, threads: Int, epilogue: Epilogue?) throws -> Tensor? {
        #if canImport(CDNNL)
        guard Int8MatMulBackend.mayRun, x.dtype == .uint8 || x.dtype == .int8, x.count > 0 else { return nil }
        // int8 weights with zero point 0, or uint8 with 128 (the int8 weights shifted by 128).
        switch (w.storage, Set(wZero)) {
        case (.int8, [0]), (.uint8, [128]): break
        default: return nil
        }
        // Without VNNI oneDNN sums u8·s8 pairs in 16 bits: exact only for weights within ±64
        // (255·64·2 = 32640, `--reduce-range`) and uint8 activations (signed ones measured inexact).
        guard DNNL.hasVNNI || (x.dtype == .uint8 && fitsPairSums(w)) else { return nil }
        let s = try attrs.shapes(x: x.shape, w: w.shape, op: "ConvInteger")
        let total = try Shape.elementCount(s.outShape)
        guard total > 0, (1...3).contains(s.spatial.count) else { return nil }
        let spec = DNNL.Int8ConvSpec(input: x.shape, output: s.outShape, weights: w.shape, group: attrs.group, strides: s.g.strides,
                                     dilations: s.g.dilations, padsBegin: s.g.padsBegin, padsEnd: s.g.padsEnd,
                                     signedSrc: x.dtype == .int8, threads: threads, epilogue: epilogue?.spec)
        guard let (conv, packed) = cache.prepared(spec, weights: w) else { return nil }
        if let epilogue {
            var failed = false
            let out = [Float](unsafeUninitializedCapacity: total) { o, initialized in
                do {
                    try epilogue.bias.withUnsafeBufferPointer { bp in
                        switch x.storage {
                        case let .uint8(v):
                            try v.withUnsafeBytes { try conv.run(src: $0.baseAddress!, zeroPoint: xZero, weights: packed, dst: UnsafeMutableRawPointer(o.baseAddress!),
                                                                       scale: epilogue.scale, bias: bp.baseAddress!) }
                        case let .int8(v):
                            try v.withUnsafeBytes { try conv.run(src: $0.baseAddress!, zeroPoint: xZero, weights: packed, dst: UnsafeMutableRawPointer(o.baseAddress!),
                                                                       scale: epilogue.scale, bias: bp.baseAddress!) }
                        default: failed = true
                        }
                    }
                } catch {
                    failed = true
                }
                initialized = failed ? 0 : total
            }
            return failed ? nil : Tensor(unchecked: s.outShape, storage: .float32(out))
        }
        var out = [Int32](repeating: 0, count: total)
        let ok: Bool = out.withUnsafeMutableBufferPointer { o in
            do {
                switch x.storage {
                case let .uint8(v): try v.withUnsafeBytes { try conv.run(src: $0.baseAddress!, zeroPoint: xZero, weights: packed, dst: o.baseAddress!) }
                case let .int8(v): try v.withUnsafeBytes { try conv.run(src: $0.baseAddress!, zeroPoint: xZero, weights: packed, dst: o.baseAddress!) }
                default: return false
                }
                return true
            } catch {
                return false
            }
        }
        return ok ? Tensor(unchecked: s.outShape, storage: .int32(out)) : nil
        #else
        return nil
        #endif
    }
}

#if canImport(CDNNL)
/// One node's oneDNN int8 convolutions: a primitive per input shape (16 kept before the table starts
/// over), each with the node's weights packed once. Shared by the standalone kernel
/// (``Int8ConvBackend``) and the region's (``BlockedInt8Conv``).
final class Int8ConvCache: @unchecked Sendable {
    private let lock = NSLock()
    private var table = DNNLPrimitiveTable<DNNL.Int8ConvSpec, Int8ConvEntry>(limit: 16)

    /// The primitive for `spec` and `w` packed for it; nil when oneDNN refuses either.
    func prepared(_ spec: DNNL.Int8ConvSpec, weights w: Tensor) -> (conv: DNNL.Int8Convolution, weights: DNNL.Buffer)? {
        lock.lock()
        defer { lock.unlock() }
        guard let e = table.entry(spec, make: { Int8ConvEntry(try DNNL.Int8Convolution(spec)) }), let b = e.packedWeights(w) else { return nil }
        return (e.conv, b)
    }
}

/// A oneDNN int8 convolution with its weights packed once per weight array, keyed by the address
/// of the caller's array (kept alive here, so the address stays its own). Used under
/// ``Int8ConvCache``'s lock.
final class Int8ConvEntry {
    let conv: DNNL.Int8Convolution
    private var packed: (source: Tensor, address: UnsafeRawPointer?, buffer: DNNL.Buffer)?

    init(_ c: DNNL.Int8Convolution) { conv = c }

    /// `w` (int8 with zero point 0, or uint8 with zero point 128: the int8 weights shifted by 128)
    /// packed for ``conv``; nil when oneDNN refuses it.
    func packedWeights(_ w: Tensor) -> DNNL.Buffer? {
        let address = Self.address(w)
        if let p = packed, p.address == address, address != nil { return p.buffer }
        let v: [Int8]
        switch w.storage {
        case let .int8(x): v = x
        case let .uint8(x): v = x.map { Int8(bitPattern: $0 ^ 0x80) }
        default: return nil
        }
        guard let b = try? v.withUnsafeBufferPointer({ try conv.packWeights($0.baseAddress!) }) else { return nil }
        packed = (w, address, b)
        return b
    }

    /// The address of an 8-bit weight array's storage.
    static func address(_ w: Tensor) -> UnsafeRawPointer? {
        switch w.storage {
        case let .int8(v): return v.withUnsafeBytes { $0.baseAddress }
        case let .uint8(v): return v.withUnsafeBytes { $0.baseAddress }
        default: return nil
        }
    }
}
#endif

/// The 8-bit convolution to float that `QuantizedConvFusion` writes for ORT's dynamic ConvInteger
/// format and for QDQ Conv:
///
///     inputs: X (float), x_scale, x_zero_point, W (int8 [M, C/group, k...]), w_scale (scalar or [M]),
///             w_zero_point, bias ([M] float, optional)
///     attributes: Conv's, and dynamic (1: X is quantized as DynamicQuantizeLinear does)
///
/// Y = float(Σ (x_q − zx)(w − zw)) · (x_scale · w_scale[m]) + bias[m], the sums exact in int32;
/// attribute relu (1) applies an absorbed Relu. With VNNI oneDNN computes all of it and writes f32.
extension KernelRegistry {
    mutating func registerFusedQuantizedConv() {
        registerFakeQuantize()
        let convInteger = self.factory(domain: "", op: "ConvInteger", opset: 10)
        register("QuantizedConv", domain: FusedOps.domain, opsets: 0...Int.max) { node, _ in
            let dynamic = try node.int("dynamic", default: 0) != 0
            let relu = try node.int("relu", default: 0) != 0
            var convNode = node
            convNode.attributes["dynamic"] = nil
            convNode.attributes["relu"] = nil
            let attrs = try NNConvAttributes(node: convNode)
            guard let convInteger else { throw KernelError("no ConvInteger kernel registered") }
            let portable = try convInteger(Node(name: node.name, opType: "ConvInteger", inputs: ["x", "w", "xz", "wz"], outputs: ["y"],
                                                attributes: convNode.attributes), 10)
            let backend = Int8ConvBackend()
            return { inputs, ctx in
                let x = try inputs.required(0), w = try inputs.required(3)
                let xq: Tensor, xScale: Float, xZero: Tensor?
                if dynamic {
                    let q = try MathQuantization.dynamic(x)
                    xq = q[0]
                    xScale = try contribFloats(q[1], "QuantizedConv x_scale")[0]
                    xZero = q[2]
                } else {
                    let s = try inputs.required(1), z = inputs.optional(2)
                    guard s.count == 1, z == nil || z!.count == 1 else { throw KernelError("QuantizedConv x_scale and x_zero_point must be scalars") }
                    xScale = try contribFloats(s, "QuantizedConv x_scale")[0]
                    xq = try quantizeScalar(x, scale: xScale, zeroPoint: z)
                    xZero = z
                }
                let wZero = inputs.optional(5)
                if Int8MatMulBackend.isAvailable, w.rank >= 3 {
                    let m = w.shape[0]
                    let ws = try contribFloats(try inputs.required(4), "QuantizedConv w_scale")
                    let bias = try inputs.optional(6).map { try contribFloats($0, "QuantizedConv bias") } ?? [Float](repeating: 0, count: m)
                    if let y = try backend.scaled(x: xq, xZero: try Tensor.zeroPoints(xZero)[0], xScale: xScale, w: w, wZero: try Tensor.zeroPoints(wZero),
                                                  wScales: ws, bias: bias, relu: relu, attrs: attrs, threads: DNNLThreads.count(intraOp: ctx.pool.threads)) {
                        return [y]
                    }
                }
                let sums = try backend.sums(x: xq, xZero: try Tensor.zeroPoints(xZero)[0], w: w, wZero: try Tensor.zeroPoints(wZero),
                                            attrs: attrs, threads: DNNLThreads.count(intraOp: ctx.pool.threads))
                    ?? portable([xq, w, xZero, wZero], ctx)[0]
                guard case let .int32(acc) = sums.storage, sums.rank >= 2 else { throw KernelError("internal: QuantizedConv sums are \(sums.dtype)") }
                let m = sums.shape[1]
                let plane = m == 0 ? 0 : sums.count / (sums.shape[0] * m)
                let ws = try contribFloats(try inputs.required(4), "QuantizedConv w_scale")
                guard ws.count == 1 || ws.count == m else { throw KernelError("QuantizedConv w_scale must be a scalar or [\(m)], got \(ws.count) values") }
                let bias = try inputs.optional(6).map { try contribFloats($0, "QuantizedConv bias") }
                if let bias, bias.count != m { throw KernelError("QuantizedConv bias must have \(m) values, got \(bias.count)") }
                let out = [Float](unsafeUninitializedCapacity: acc.count) { o, count in
                    for b in 0..<sums.shape[0] {
                        for c in 0..<m {
                            let scale = xScale * ws[ws.count == 1 ? 0 : c], add = bias?[c] ?? 0
                            let base = (b * m + c) * plane
                            for i in base..<(base + plane) { let y = Float(acc[i]) * scale + add; o[i] = relu && y < 0 ? 0 : y }
                        }
                    }
                    count = acc.count
                }
                return [Tensor(unchecked: sums.shape, storage: .float32(out))]
            }
        }
    }
}
