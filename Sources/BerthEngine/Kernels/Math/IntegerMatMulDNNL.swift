import BerthTensor
import Foundation
#if canImport(CDNNL)
import CDNNL
#endif

/// Per-node state of an 8-bit matmul whose B is a matrix (in practice a constant weight): B is
/// converted to int8, reordered into oneDNN's layout and summed per column once, then every call
/// runs one u8·s8 (or s8·s8) → s32 primitive over all rows of A and subtracts the zero points from
/// the exact sums:
///
///     Σₖ (a − za)(b − zb) = Σₖ a·b − za·Σₖ b − zb·Σₖ a + K·za·zb
///
/// (wrapping int32 arithmetic, as ONNX Runtime's). A uint8 B is stored as b − 128 with zb − 128,
/// which leaves every difference unchanged. Returns nil where oneDNN is absent or refuses the shape,
/// or where the CPU has no VNNI and B has values beyond ±64 (integer outputs must be exact: without
/// VNNI oneDNN sums u8·s8 pairs in 16 bits, and 255·64·2 = 32640 is the most that cannot saturate —
/// what `--reduce-range` weights give): callers keep the portable path.
final class Int8MatMulBackend: @unchecked Sendable {
    /// B as int8 with its column sums, for one source array (identified by its address, kept alive).
    private struct Weights {
        let source: Tensor
        let address: UnsafeRawPointer?
        let transposed: Bool
        let values: [Int8]
        let columnSums: [Int32]
        /// Added to B's zero point: −128 when B was uint8.
        let zeroShift: Int32
        /// Every value (as int8, after the shift) is within ±64, so oneDNN's non-VNNI 16-bit pair
        /// sums of u8·s8 products cannot saturate.
        let fitsPairSums: Bool
    }
    #if canImport(CDNNL)
    private final class Entry {
        let matmul: DNNL.Int8MatMul
        var packed: (address: UnsafeRawPointer?, buffer: DNNL.Buffer)?
        init(_ m: DNNL.Int8MatMul) { matmul = m }
    }
    /// Shapes (row counts) kept before the cache starts over: symbolic batch sizes must not grow it without bound.
    private var table = DNNLPrimitiveTable<DNNL.Int8MatMulSpec, Entry>(limit: 16)
    #endif
    private let lock = NSLock()
    private var weights: Weights?

    /// Whether this build and CPU run 8-bit matmuls exactly on oneDNN (`BERTH_DNNL=0` turns it off).
    static let isAvailable: Bool = {
        #if canImport(CDNNL)
        return convUsesDNNL && DNNL.isAvailable && DNNL.hasVNNI
        #else
        return false
        #endif
    }()

    /// Whether this build runs some 8-bit matmuls on oneDNN: all with VNNI, and without it those
    /// whose B fits the 16-bit pair sums (checked per weight in ``sums`` and ``scaled``).
    static let mayRun: Bool = {
        #if canImport(CDNNL)
        return convUsesDNNL && DNNL.isAvailable
        #else
        return false
        #endif
    }()

    /// The exact int32 sums `(A − aZero) · (B − bZero)`: A is [..., K] (uint8 or int8), B is [K, N]
    /// (or [N, K] with `transposedB`) int8 or uint8; `aZero` has 1 value or one per row of A's
    /// second-to-last axis, `bZero` 1 or N. Nil when the fast path does not apply.
    func sums(a: Tensor, aZero: [Int32], b: Tensor, bZero: [Int32], transposedB: Bool, threads: Int) throws -> Tensor? {
        #if canImport(CDNNL)
        guard Self.mayRun, a.dtype == .uint8 || a.dtype == .int8, b.dtype == .uint8 || b.dtype == .int8,
              a.rank >= 1, b.rank == 2 else { return nil }
        let k = transposedB ? b.shape[1] : b.shape[0], n = transposedB ? b.shape[0] : b.shape[1]
        guard a.shape[a.rank - 1] == k, k > 0, n > 0, a.count > 0 else { return nil }
        let rows = a.count / k
        let perRow = a.rank >= 2 ? a.shape[a.rank - 2] : 1
        guard aZero.count == 1 || aZero.count == perRow, bZero.count == 1 || bZero.count == n else { return nil }
        let outShape = a.rank == 1 ? [n] : Array(a.shape.dropLast()) + [n]
        let spec = DNNL.Int8MatMulSpec(m: rows, k: k, n: n, signedA: a.dtype == .int8, transposedB: transposedB, threads: threads)

        guard let (entry, w, packed) = prepared(spec, b: b, k: k, n: n) else { return nil }
        var out = [Int32](repeating: 0, count: try Shape.elementCount([rows, n]))
        let ok: Bool = out.withUnsafeMutableBufferPointer { o in
            do {
                switch a.storage {
                case let .uint8(v): try v.withUnsafeBytes { try entry.matmul.run(src: $0.baseAddress!, weights: packed, dst: o.baseAddress!) }
                case let .int8(v): try v.withUnsafeBytes { try entry.matmul.run(src: $0.baseAddress!, weights: packed, dst: o.baseAddress!) }
                default: return false
                }
                return true
            } catch {
                return false
            }
        }
        guard ok else { return nil }
        withExtendedLifetime(w.source) {}

        // Zero points, on the exact sums.
        let zb = bZero.map { $0 &+ w.zeroShift }
        let aHasZero = aZero.contains { $0 != 0 }, bHasZero = zb.contains { $0 != 0 }
        guard aHasZero || bHasZero else { return Tensor(unchecked: outShape, storage: .int32(out)) }
        var rowSums = [Int32](repeating: 0, count: bHasZero ? rows : 0)
        if bHasZero {
            switch a.storage {
            case let .uint8(v): for r in 0..<rows { var s: Int32 = 0; for j in 0..<k { s &+= Int32(v[r * k + j]) }; rowSums[r] = s }
            case let .int8(v): for r in 0..<rows { var s: Int32 = 0; for j in 0..<k { s &+= Int32(v[r * k + j]) }; rowSums[r] = s }
            default: return nil
            }
        }
        let kk = Int32(truncatingIfNeeded: k)
        let zbs = zb.count == 1 ? [Int32](repeating: zb[0], count: n) : zb
        var correction = [Int32](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { o in
            w.columnSums.withUnsafeBufferPointer { cs in
                zbs.withUnsafeBufferPointer { zp in
                    correction.withUnsafeMutableBufferPointer { c in
                        for r in 0..<rows {
                            let za = aZero.count == 1 ? aZero[0] : aZero[r % perRow]
                            let rs = bHasZero ? rowSums[r] : 0
                            // The row's correction per column, then one pass over the row.
                            if r == 0 || aZero.count != 1 || bHasZero {
                                for j in 0..<n { c[j] = za &* cs[j] &+ zp[j] &* rs &- kk &* za &* zp[j] }
                            }
                            let base = r * n
                            for j in 0..<n { o[base + j] = o[base + j] &- c[j] }
                        }
                    }
                }
            }
        }
        return Tensor(unchecked: outShape, storage: .int32(out))
        #else
        return nil
        #endif
    }

    #if canImport(CDNNL)
    /// The primitive for `spec` with B converted and packed into its layout (cached per B array),
    /// or nil when oneDNN refuses the shape.
    private func prepared(_ spec: DNNL.Int8MatMulSpec, b: Tensor, k: Int, n: Int) -> (Entry, Weights, DNNL.Buffer)? {
        let transposedB = spec.transposedB
        let entry: Entry, w: Weights, packed: DNNL.Buffer
        do {
            lock.lock()
            defer { lock.unlock() }
            let address = Self.address(of: b)
            if let cached = weights, cached.address == address, cached.transposed == transposedB, address != nil {
                w = cached
            } else {
                w = Self.prepare(b, transposed: transposedB, k: k, n: n, address: address)
                weights = w
                // A freed B's address can come back for another array: drop what was packed from it.
                for e in table.entries.values { e.packed = nil }
            }
            // Without VNNI only 7-bit weights give exact sums (before any primitive is made for them).
            guard DNNL.hasVNNI || w.fitsPairSums else { return nil }
            guard let e = table.entry(spec, make: {
                // Without VNNI the 1×1-convolution form where oneDNN has it, else the matmul; uint8
                // activations only (oneDNN 2.6's AVX2 1×1 kernel gave inexact sums for int8 ones
                // with a zero point, tests/python/test_int8_kernels.py).
                var conv = spec
                conv.asConvolution = true
                if !DNNL.hasVNNI, !spec.signedA, let m = try? DNNL.Int8MatMul(conv) { return Entry(m) }
                return Entry(try DNNL.Int8MatMul(spec))
            }) else { return nil }
            entry = e
            if let p = entry.packed, p.address == w.address, w.address != nil {
                packed = p.buffer
            } else {
                guard let buffer = try? w.values.withUnsafeBufferPointer({ try entry.matmul.packWeights($0.baseAddress!) }) else { return nil }
                entry.packed = (w.address, buffer)
                packed = buffer
            }
        }

        return (entry, w, packed)
    }
    #endif

    /// `relu?/gelu?(float(Σₖ (a − aZero)·b) · aScale · bScales[j] + bias[j])` written by oneDNN in f32
    /// (``DNNL/Int8Epilogue``): A is [..., K] uint8 / int8 with one zero point, B [K, N] (or
    /// [N, K]) int8, or uint8 with zero point 128; `bScales` 1 or N values, `bias` N. Nil when
    /// this path does not apply (other zero points, no VNNI, a shape oneDNN refuses).
    func scaled(a: Tensor, aZero: Int32, aScale: Float, b: Tensor, bZero: [Int32], bScales: [Float], bias: [Float], relu: Bool,
                gelu: Bool = false, transposedB: Bool, threads: Int) throws -> Tensor? {
        #if canImport(CDNNL)
        guard Self.mayRun, a.dtype == .uint8 || a.dtype == .int8, b.dtype == .uint8 || b.dtype == .int8, a.rank >= 1, b.rank == 2,
              bScales.allSatisfy({ $0.isFinite }), aScale.isFinite else { return nil }
        let k = transposedB ? b.shape[1] : b.shape[0], n = transposedB ? b.shape[0] : b.shape[1]
        guard a.shape[a.rank - 1] == k, k > 0, n > 0, a.count > 0, bias.count == n, bScales.count == 1 || bScales.count == n else { return nil }
        // oneDNN takes the activation's zero point; the weights' must vanish once uint8 is shifted.
        let shift: Int32 = b.dtype == .uint8 ? -128 : 0
        guard bZero.allSatisfy({ $0 &+ shift == 0 }) else { return nil }
        let rows = a.count / k
        let outShape = a.rank == 1 ? [n] : Array(a.shape.dropLast()) + [n]
        let spec = DNNL.Int8MatMulSpec(m: rows, k: k, n: n, signedA: a.dtype == .int8, transposedB: transposedB, threads: threads,
                                       epilogue: DNNL.Int8Epilogue(weightScales: bScales, relu: relu, gelu: gelu))
        guard let (entry, w, packed) = prepared(spec, b: b, k: k, n: n) else { return nil }
        let count = try Shape.elementCount([rows, n])
        var failed = false
        let out = [Float](unsafeUninitializedCapacity: count) { o, initialized in
            do {
                try bias.withUnsafeBufferPointer { bp in
                    switch a.storage {
                    case let .uint8(v):
                        try v.withUnsafeBytes { try entry.matmul.run(src: $0.baseAddress!, zeroPoint: aZero, scale: aScale, bias: bp.baseAddress!,
                                                                     weights: packed, dst: o.baseAddress!) }
                    case let .int8(v):
                        try v.withUnsafeBytes { try entry.matmul.run(src: $0.baseAddress!, zeroPoint: aZero, scale: aScale, bias: bp.baseAddress!,
                                                                     weights: packed, dst: o.baseAddress!) }
                    default: failed = true
                    }
                }
            } catch {
                failed = true
            }
            initialized = failed ? 0 : count
        }
        withExtendedLifetime(w.source) {}
        return failed ? nil : Tensor(unchecked: outShape, storage: .float32(out))
        #else
        return nil
        #endif
    }

    private static func address(of t: Tensor) -> UnsafeRawPointer? {
        switch t.storage {
        case let .int8(v): return v.withUnsafeBytes { $0.baseAddress }
        case let .uint8(v): return v.withUnsafeBytes { $0.baseAddress }
        default: return nil
        }
    }

    private static func prepare(_ b: Tensor, transposed: Bool, k: Int, n: Int, address: UnsafeRawPointer?) -> Weights {
        let values: [Int8], shift: Int32
        switch b.storage {
        case let .uint8(v): values = v.map { Int8(bitPattern: $0 ^ 0x80) }; shift = -128
        case let .int8(v): values = v; shift = 0
        default: values = []; shift = 0
        }
        var sums = [Int32](repeating: 0, count: n)
        if transposed {
            for j in 0..<n { var s: Int32 = 0; for i in 0..<k { s += Int32(values[j * k + i]) }; sums[j] = s }
        } else {
            for i in 0..<k { for j in 0..<n { sums[j] += Int32(values[i * n + j]) } }
        }
        return Weights(source: b, address: address, transposed: transposed, values: values, columnSums: sums, zeroShift: shift,
                       fitsPairSums: values.allSatisfy { (-64...64).contains($0) })
    }
}

extension Tensor {
    /// The values of a uint8 / int8 / int32 zero point as int32 (none: [0]).
    static func zeroPoints(_ t: Tensor?) throws -> [Int32] {
        guard let t else { return [0] }
        return try t.integers().map { Int32(truncatingIfNeeded: $0) }
    }
}
