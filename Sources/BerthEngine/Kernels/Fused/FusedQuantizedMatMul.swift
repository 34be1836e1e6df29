import BerthONNX
import BerthTensor
import Foundation

/// The 8-bit matmul to float that `QuantizedMatMulFusion` writes for both quantized formats:
///
///     inputs: X (float), x_scale, x_zero_point, W (int8 / uint8 [K, N], or [N, K] with transB),
///             w_scale (scalar or [N]), w_zero_point, bias ([N], optional)
///     attributes: dynamic (1: X is quantized as DynamicQuantizeLinear does, x_scale and
///             x_zero_point are empty; 2: X is that quantization's uint8 output, shared by several
///             matmuls, with its scale and zero point), transB, relu (1: a Relu on Y, absorbed by the fusion),
///             gelu (1: an exact GELU on Y, absorbed by MatMulActivationFusion)
///
/// Y = float(Σₖ (x_q − zx)(w − zw)) · (x_scale · w_scale[j]) + bias[j]: the sums are exact int32
/// (oneDNN's int8 kernels with the weights packed once, or the portable path), so Y is what the
/// unfused graph computes up to float rounding of the sum.
extension KernelRegistry {
    mutating func registerFusedQuantizedMatMul() {
        register("QuantizedMatMul", domain: FusedOps.domain, opsets: 0...Int.max) { node, _ in
            let mode = try node.int("dynamic", default: 0)
            let dynamic = mode == 1
            let transB = try node.int("transB", default: 0) != 0
            let relu = try node.int("relu", default: 0) != 0
            let gelu = try node.int("gelu", default: 0) != 0
            guard !(relu && gelu) else { throw KernelError("QuantizedMatMul takes relu or gelu, not both") }
            let backend = Int8MatMulBackend()
            let constants = QuantizedMatMulConstants()
            return { inputs, ctx in
                let x = try inputs.required(0), w = try inputs.required(3)
                let aq: Tensor, aScale: Float, aZero: Tensor?
                if mode == 2 {
                    // Already quantized by a shared DynamicQuantizeLinear: X is uint8, its scale and zero point follow.
                    guard x.dtype == .uint8 else { throw KernelError("QuantizedMatMul (dynamic = 2) needs a uint8 input, got \(x.dtype)") }
                    aq = x
                    aScale = try contribFloats(try inputs.required(1), "QuantizedMatMul x_scale")[0]
                    aZero = try inputs.required(2)
                } else if dynamic {
                    let q = try MathQuantization.dynamicLevels(x)
                    // oneDNN's epilogue takes the scale and zero point as numbers: no scalar tensors on that path.
                    if Int8MatMulBackend.mayRun, w.rank == 2,
                       let y = try constants.scaled(backend, a: q.levels, aZero: Int32(q.zeroPoint), aScale: q.scale, inputs: inputs,
                                                    relu: relu, gelu: gelu, transposedB: transB, threads: DNNLThreads.count(intraOp: ctx.pool.threads)) {
                        return [y]
                    }
                    aq = q.levels
                    aScale = q.scale
                    aZero = .scalar(q.zeroPoint)
                } else {
                    let s = try inputs.required(1), z = inputs.optional(2)
                    guard s.count == 1, z == nil || z!.count == 1 else { throw KernelError("QuantizedMatMul x_scale and x_zero_point must be scalars") }
                    aScale = try contribFloats(s, "QuantizedMatMul x_scale")[0]
                    aq = try quantizeScalar(x, scale: aScale, zeroPoint: z)
                    aZero = z
                }
                // oneDNN's whole epilogue (scales, zero point, bias, Relu) where it applies.
                if Int8MatMulBackend.mayRun, aZero == nil || aZero!.count == 1, w.rank == 2,
                   let y = try constants.scaled(backend, a: aq, aZero: try Tensor.zeroPoints(aZero)[0], aScale: aScale, inputs: inputs,
                                                relu: relu, gelu: gelu, transposedB: transB, threads: DNNLThreads.count(intraOp: ctx.pool.threads)) {
                    return [y]
                }
                let y = try scaledInt8MatMul(aq: aq, aScale: aScale, aZero: aZero, b: w, bScale: try inputs.required(4), bZero: inputs.optional(5),
                                             bias: inputs.optional(6), transposedB: transB, op: "QuantizedMatMul", backend: backend, pool: ctx.pool)
                if gelu, case var .float32(v) = y.storage {
                    v.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { geluInPlace(p, count: $0.count, pool: ctx.pool) } }
                    return [Tensor(unchecked: y.shape, storage: .float32(v))]
                }
                return [relu ? applyRelu(y) : y]
            }
        }
    }
}

/// A fused node's weight scales, bias and weight zero points as the oneDNN epilogue takes them,
/// converted on the first call and kept while the same tensors come back (they are initializers;
/// the cache holds them, so their storage cannot be freed and its address reused meanwhile).
final class QuantizedMatMulConstants: @unchecked Sendable {
    private struct Converted {
        let sources: [Tensor?]
        let addresses: [UnsafeRawPointer?]
        let bScales: [Float], bias: [Float], bZero: [Int32]
    }
    private let lock = NSLock()
    private var converted: Converted?

    /// ``Int8MatMulBackend/scaled`` with inputs 4…6 (w_scale, w_zero_point, bias) of a QuantizedMatMul.
    func scaled(_ backend: Int8MatMulBackend, a: Tensor, aZero: Int32, aScale: Float, inputs: [Tensor?], relu: Bool, gelu: Bool,
                transposedB: Bool, threads: Int) throws -> Tensor? {
        let w = try inputs.required(3)
        let sources = [try inputs.required(4), inputs.optional(5), inputs.optional(6)]
        let addresses = sources.map { $0.flatMap(Self.address) }
        // Every present operand must have an address to be recognised on the next call.
        let cacheable = zip(sources, addresses).allSatisfy { $0 == nil || $1 != nil }
        lock.lock()
        let cached = cacheable ? converted.flatMap { $0.addresses == addresses ? $0 : nil } : nil
        lock.unlock()
        let c: Converted
        if let cached {
            c = cached
        } else {
            let n = transposedB ? w.shape[0] : w.shape[1]
            c = Converted(sources: sources, addresses: addresses,
                          bScales: try contribFloats(sources[0]!, "QuantizedMatMul w_scale"),
                          bias: try sources[2].map { try contribFloats($0, "QuantizedMatMul bias") } ?? [Float](repeating: 0, count: n),
                          bZero: try Tensor.zeroPoints(sources[1]))
            if cacheable {
                lock.lock()
                converted = c
                lock.unlock()
            }
        }
        return try backend.scaled(a: a, aZero: aZero, aScale: aScale, b: w, bZero: c.bZero, bScales: c.bScales, bias: c.bias, relu: relu,
                                  gelu: gelu, transposedB: transposedB, threads: threads)
    }

    private static func address(_ t: Tensor) -> UnsafeRawPointer? {
        switch t.storage {
        case let .float32(v): return v.withUnsafeBytes { $0.baseAddress }
        case let .int8(v): return v.withUnsafeBytes { $0.baseAddress }
        case let .uint8(v): return v.withUnsafeBytes { $0.baseAddress }
        default: return nil
        }
    }
}

/// max(y, 0) on a float tensor (the portable path's absorbed Relu; NaN stays NaN as Relu keeps it).
func applyRelu(_ y: Tensor) -> Tensor {
    guard case var .float32(v) = y.storage else { return y }
    v.withUnsafeMutableBufferPointer { p in for i in 0..<p.count where p[i] < 0 { p[i] = 0 } }
    return Tensor(unchecked: y.shape, storage: .float32(v))
}

/// QuantizeLinear with one scale and zero point (uint8 when there is none), in Float as ORT does.
func quantizeScalar(_ x: Tensor, scale: Float, zeroPoint: Tensor?) throws -> Tensor {
    guard case let .float32(v) = x.storage else { throw KernelError("QuantizedMatMul needs a float input, got \(x.dtype)") }
    let dtype = zeroPoint?.dtype ?? .uint8
    let z = Int32(try zeroPoint?.integers().first ?? 0)
    let (lo, hi): (Int32, Int32) = dtype == .int8 ? (-128, 127) : (0, 255)
    guard dtype == .int8 || dtype == .uint8 else { throw KernelError("QuantizedMatMul quantizes to uint8 or int8, not \(dtype)") }
    // x / scale clamped to ±(2²² − 1) first (saturation makes anything beyond the same), then rounded
    // half to even by adding 1.5·2²³ and reading the integer from the mantissa: nearbyint's result,
    // without a checked conversion, in a loop that vectorises.
    @inline(__always) func level(_ e: Float) -> Int32 {
        let q = min(max(e / scale, -4_194_303), 4_194_303)
        let r = Int32(bitPattern: (q + 12_582_912).bitPattern) &- 0x4B40_0000
        return e.isNaN ? z : min(max(r &+ z, lo), hi)
    }
    if dtype == .uint8 {
        let out = [UInt8](unsafeUninitializedCapacity: v.count) { o, count in
            v.withUnsafeBufferPointer { p in for i in 0..<p.count { o[i] = UInt8(truncatingIfNeeded: level(p[i])) } }
            count = v.count
        }
        return Tensor(unchecked: x.shape, storage: .uint8(out))
    }
    let out = [Int8](unsafeUninitializedCapacity: v.count) { o, count in
        v.withUnsafeBufferPointer { p in for i in 0..<p.count { o[i] = Int8(truncatingIfNeeded: level(p[i])) } }
        count = v.count
    }
    return Tensor(unchecked: x.shape, storage: .int8(out))
}

/// `float(Σₖ (a − za)(b − zb)) · (aScale · bScale[j]) + bias[j]` for 8-bit A [..., K] and B [K, N]
/// (or [N, K] when `transposedB`): oneDNN's int8 kernels where ``Int8MatMulBackend`` takes it,
/// otherwise the exact portable product.
func scaledInt8MatMul(aq: Tensor, aScale: Float, aZero: Tensor?, b: Tensor, bScale: Tensor, bZero: Tensor?, bias: Tensor?,
                      transposedB: Bool, op: String, backend: Int8MatMulBackend?, pool: ThreadPool) throws -> Tensor {
    guard b.rank == 2 || !transposedB else { throw KernelError("\(op) with transB needs a matrix B, got \(b.shape)") }
    var sums: Tensor?
    if let backend, aZero == nil || aZero!.rank <= 1, bZero == nil || bZero!.rank <= 1,
       aZero == nil || aZero!.dtype == aq.dtype, bZero == nil || bZero!.dtype == b.dtype {
        sums = try backend.sums(a: aq, aZero: try Tensor.zeroPoints(aZero), b: b, bZero: try Tensor.zeroPoints(bZero),
                                transposedB: transposedB, threads: DNNLThreads.count(intraOp: pool.threads))
    }
    if sums == nil {
        var bm = b
        if transposedB {  // portable path: B as [K, N]
            let n = b.shape[0], k = b.shape[1]
            switch b.storage {
            case let .int8(v): bm = Tensor(unchecked: [k, n], storage: .int8((0..<(k * n)).map { v[($0 % n) * k + $0 / n] }))
            case let .uint8(v): bm = Tensor(unchecked: [k, n], storage: .uint8((0..<(k * n)).map { v[($0 % n) * k + $0 / n] }))
            default: throw KernelError("\(op) needs an int8 or uint8 B, got \(b.dtype)")
            }
        }
        let sa = try MathIntegerMatMul.shifted(aq, zeroPoint: aZero, perRow: true, op)
        let sb = try MathIntegerMatMul.shifted(bm, zeroPoint: bZero, perRow: false, op)
        sums = try MathIntegerMatMul.exactIntegerMatMul(sa, sb, pool: pool)
    }
    guard let product = sums, case let .int32(s) = product.storage, let n = product.shape.last else {
        throw KernelError("internal: \(op) sums are not int32")
    }
    let bS = try contribFloats(bScale, "\(op) b_scale")
    guard bS.count == 1 || bS.count == n else { throw KernelError("\(op) b_scale must be a scalar or [\(n)], got \(bScale.shape)") }
    let bv = try bias.map { try contribFloats($0, "\(op) bias") }
    if let bv, bv.count != n { throw KernelError("\(op) bias must be [\(n)], got \(bias!.shape)") }
    let scales = bS.count == 1 ? [Float](repeating: aScale * bS[0], count: n) : bS.map { aScale * $0 }
    let biases = bv ?? [Float](repeating: 0, count: n)
    let out = [Float](unsafeUninitializedCapacity: s.count) { o, count in
        let rows = n == 0 ? 0 : s.count / n
        s.withUnsafeBufferPointer { sp in
            scales.withUnsafeBufferPointer { sc in
                biases.withUnsafeBufferPointer { bp in
                    for r in 0..<rows {
                        let base = r * n
                        // Adding a zero bias leaves every product unchanged (x + 0 = x, and −0 only where x is −0).
                        for j in 0..<n { o[base + j] = Float(sp[base + j]) * sc[j] + bp[j] }
                    }
                }
            }
        }
        count = s.count
    }
    return Tensor(unchecked: product.shape, storage: .float32(out))
}
