import BerthONNX
import BerthTensor

/// MatMulInteger and QLinearMatMul: the 8-bit operands minus their zero points are multiplied as
/// int32 (MatMul's batching and broadcasting), and QLinearMatMul requantizes the sums with
/// a_scale * b_scale / y_scale (round half to even, saturating), as ONNX Runtime does.
enum MathIntegerMatMul {
    /// `t` minus its zero point as int32; the zero point is a scalar, or per row (`rows`, the
    /// second-to-last axis of A) / per column (`columns`, the last axis of B).
    static func shifted(_ t: Tensor, zeroPoint: Tensor?, perRow: Bool, _ op: String) throws -> Tensor {
        guard t.dtype == .uint8 || t.dtype == .int8 else { throw KernelError("\(op) needs uint8 or int8 operands, got \(t.dtype)") }
        guard t.rank >= 1 else { throw KernelError("\(op) operands must have rank 1 or more") }
        let v = try t.integers()
        var out = v.map { Int32($0) }
        if let zeroPoint {
            guard zeroPoint.dtype == t.dtype else { throw KernelError("\(op) zero point type \(zeroPoint.dtype) differs from its operand's \(t.dtype)") }
            let z = try zeroPoint.integers()
            if z.count == 1 {
                for i in out.indices { out[i] -= Int32(z[0]) }
            } else {
                // Per row of A (axis -2) or per column of B (axis -1).
                let r = t.rank
                let dim = perRow ? (r >= 2 ? t.shape[r - 2] : 1) : t.shape[r - 1]
                guard z.count == dim, zeroPoint.rank == 1 else {
                    throw KernelError("\(op) zero point shape \(zeroPoint.shape) must be a scalar or [\(dim)]")
                }
                let stride = perRow ? t.shape[r - 1] : 1
                for i in out.indices { out[i] -= Int32(z[(i / stride) % dim]) }
            }
        }
        return Tensor(unchecked: t.shape, storage: .int32(out))
    }

    static func matMulInteger(_ inputs: [Tensor?], pool: ThreadPool, backend: Int8MatMulBackend? = nil) throws -> Tensor {
        if let backend, let y = try fastSums(inputs, a: 0, aZero: 2, b: 1, bZero: 3, backend: backend, pool: pool) { return y }
        let a = try shifted(try inputs.required(0), zeroPoint: inputs.optional(2), perRow: true, "MatMulInteger")
        let b = try shifted(try inputs.required(1), zeroPoint: inputs.optional(3), perRow: false, "MatMulInteger")
        return try exactIntegerMatMul(a, b, pool: pool)
    }

    /// The int32 product of shifted 8-bit operands through BLAS, exactly: in float when every
    /// partial sum stays below 2^24 (K · max|a| · max|b|), otherwise in double (below 2^53 for any
    /// realistic K), rounding back to int32. The generic integer loop is the fallback.
    static func exactIntegerMatMul(_ a: Tensor, _ b: Tensor, pool: ThreadPool) throws -> Tensor {
        guard case let .int32(av) = a.storage, case let .int32(bv) = b.storage else { return try mathMatMul(a, b, pool: pool) }
        let plan = try MathMatMulPlan(a.shape, b.shape)
        let maxA = Double(av.lazy.map { abs(Int64($0)) }.max() ?? 0), maxB = Double(bv.lazy.map { abs(Int64($0)) }.max() ?? 0)
        let bound = Double(plan.k) * maxA * maxB
        if bound < 16_777_216 {
            let r = mathMatMulFloat(av.map(Float.init), bv.map(Float.init), plan)
            return Tensor(unchecked: plan.outShape, storage: .int32(r.map { Int32($0) }))
        }
        guard bound < 2_147_483_647, plan.bIsSingleMatrix else { return try mathMatMul(a, b, pool: pool) }
        // Below Int32.max: the sums fit the output type; double holds them exactly.
        let rows = plan.batch.count * plan.m
        let ad = av.map(Double.init), bd = bv.map(Double.init)
        var out = [Double](repeating: 0, count: rows * plan.n)
        ad.withUnsafeBufferPointer { pa in
            bd.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    BLAS.dgemm(m: rows, n: plan.n, k: plan.k, a: pa.baseAddress!, b: pb.baseAddress!, c: po.baseAddress!)
                }
            }
        }
        return Tensor(unchecked: plan.outShape, storage: .int32(out.map { Int32($0) }))
    }

    /// The int32 sums on oneDNN's int8 kernels (``Int8MatMulBackend``) when the operands allow it:
    /// zero points of the operand's type, B a matrix; nil otherwise.
    static func fastSums(_ inputs: [Tensor?], a ai: Int, aZero az: Int, b bi: Int, bZero bz: Int,
                         backend: Int8MatMulBackend, pool: ThreadPool) throws -> Tensor? {
        guard Int8MatMulBackend.mayRun, let a = inputs.optional(ai), let b = inputs.optional(bi) else { return nil }
        let za = inputs.optional(az), zb = inputs.optional(bz)
        guard za == nil || (za!.dtype == a.dtype && za!.rank <= 1), zb == nil || (zb!.dtype == b.dtype && zb!.rank <= 1) else { return nil }
        return try backend.sums(a: a, aZero: try Tensor.zeroPoints(za), b: b, bZero: try Tensor.zeroPoints(zb), transposedB: false,
                                threads: DNNLThreads.count(intraOp: pool.threads))
    }

    static func qlinearMatMul(_ inputs: [Tensor?], pool: ThreadPool, backend: Int8MatMulBackend? = nil) throws -> Tensor {
        let aq = try inputs.required(0), bq = try inputs.required(3)
        let yzp = try inputs.required(7)
        func floats(_ i: Int, _ what: String) throws -> [Float] {
            let t = try inputs.required(i)
            guard t.dtype.isFloatingPoint else { throw KernelError("QLinearMatMul \(what) must be float, got \(t.dtype)") }
            return t.doubles.map { Float($0) }
        }
        let sa = try floats(1, "a_scale"), sb = try floats(4, "b_scale"), sy = try floats(6, "y_scale")
        guard sa.count == 1, sy.count == 1, yzp.count == 1 else {
            throw KernelError("QLinearMatMul a_scale, y_scale and y_zero_point must be scalars")
        }
        let n = bq.shape[bq.rank - 1]
        guard sb.count == 1 || sb.count == n else { throw KernelError("QLinearMatMul b_scale must be a scalar or [\(n)], got \(sb.count) elements") }
        let fast = try backend.flatMap { try fastSums(inputs, a: 0, aZero: 2, b: 3, bZero: 5, backend: $0, pool: pool) }
        let acc = try fast ?? exactIntegerMatMul(try shifted(aq, zeroPoint: try inputs.required(2), perRow: true, "QLinearMatMul"),
                                                 try shifted(bq, zeroPoint: try inputs.required(5), perRow: false, "QLinearMatMul"), pool: pool)
        guard case let .int32(sums) = acc.storage else { throw KernelError("internal: QLinearMatMul sums are \(acc.dtype)") }
        let (lo, hi) = try MathQuantization.range(yzp.dtype, "QLinearMatMul")
        let z = Float(try yzp.integers()[0])
        let m = sb.map { sa[0] * $0 / sy[0] }
        let q = sums.enumerated().map { i, s -> Double in
            let r = (Float(s) * m[sb.count == 1 ? 0 : i % n]).rounded(.toNearestOrEven) + z
            return min(max(Double(r), lo), hi)
        }
        return try MathQuantization.store(q, shape: acc.shape, dtype: yzp.dtype)
    }
}

extension KernelRegistry {
    mutating func registerIntegerMatMul() {
        register("MatMulInteger", opsets: 10...Int.max) { _, _ in
            let backend = Int8MatMulBackend()
            return { inputs, ctx in [try MathIntegerMatMul.matMulInteger(inputs, pool: ctx.pool, backend: backend)] }
        }
        register("QLinearMatMul", opsets: 10...Int.max) { _, _ in
            let backend = Int8MatMulBackend()
            return { inputs, ctx in [try MathIntegerMatMul.qlinearMatMul(inputs, pool: ctx.pool, backend: backend)] }
        }
    }
}
