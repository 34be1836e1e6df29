import BerthONNX
import BerthTensor

// MatMul (NumPy matmul semantics) and Gemm. float32 goes through OpenBLAS sgemm; float16 is
// widened to float32 for the product; the other numeric dtypes use a plain loop with the
// wrapping arithmetic of `MathScalar`.

/// The shapes of one MatMul: batch broadcast, matrix sizes, and the output shape.
struct MathMatMulPlan {
    let m: Int, k: Int, n: Int
    /// Broadcast of the batch dims of A and B (both may be empty).
    let batch: BroadcastLayout
    let outShape: [Int]

    init(_ aShape: [Int], _ bShape: [Int]) throws {
        guard !aShape.isEmpty, !bShape.isEmpty else {
            throw KernelError("MatMul inputs must have rank >= 1, got \(aShape) and \(bShape)")
        }
        // NumPy: a 1-D A is a row [1, K], a 1-D B a column [K, 1]; the added dim is removed after.
        let a = aShape.count == 1 ? [1, aShape[0]] : aShape
        let b = bShape.count == 1 ? [bShape[0], 1] : bShape
        m = a[a.count - 2]
        k = a[a.count - 1]
        n = b[b.count - 1]
        guard b[b.count - 2] == k else {
            throw KernelError("MatMul inner dimensions differ: A \(aShape) has K=\(k), B \(bShape) has K=\(b[b.count - 2])")
        }
        batch = try BroadcastLayout([Array(a.dropLast(2)), Array(b.dropLast(2))])
        var out = batch.shape
        if aShape.count > 1 { out.append(m) }
        if bShape.count > 1 { out.append(n) }
        outShape = out
        guard m <= Int(Int32.max), n <= Int(Int32.max), k <= Int(Int32.max) else {
            throw KernelError("MatMul dimensions too large for BLAS: M=\(m) K=\(k) N=\(n)")
        }
        _ = try Shape.elementCount(outShape)
    }

    /// Calls `body(batchIndex, aMatrixIndex, bMatrixIndex)` for every output matrix.
    func forEachBatch(_ body: (Int, Int, Int) -> Void) {
        guard batch.count > 0 else { return }
        let inner = batch.inner
        let sa = batch.innerStride(0), sb = batch.innerStride(1)
        var cursor = BroadcastRowCursor(batch, row: 0)
        for row in 0..<batch.rows {
            for i in 0..<inner {
                body(row * inner + i, cursor.offsets[0] + i * sa, cursor.offsets[1] + i * sb)
            }
            cursor.advance()
        }
    }

    /// True when B has a single matrix, so every A row can go into one big product.
    var bIsSingleMatrix: Bool { batch.count > 0 && batch.strideTable[batch.dims.count..<2 * batch.dims.count].allSatisfy { $0 == 0 } }
}

/// float32 MatMul through sgemm. Batches run one after another: OpenBLAS threads each product
/// itself, and concurrent calls into its shared thread server do not speed things up.
func mathMatMulFloat(_ a: [Float], _ b: [Float], _ plan: MathMatMulPlan) -> [Float] {
    let (m, k, n) = (plan.m, plan.k, plan.n)
    let total = plan.batch.count * m * n
    guard total > 0 else { return [] }
    return [Float](unsafeUninitializedCapacity: total) { buf, initialized in
        let o = buf.baseAddress!
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                if k == 0 {
                    o.initialize(repeating: 0, count: total)
                } else if plan.bIsSingleMatrix {
                    // A is [..., M, K] contiguous and B one [K, N]: fold the batch into M.
                    BLAS.sgemm(transA: false, transB: false, m: plan.batch.count * m, n: n, k: k,
                               alpha: 1, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                               beta: 0, c: o, ldc: n)
                } else {
                    plan.forEachBatch { ob, ia, ib in
                        BLAS.sgemm(transA: false, transB: false, m: m, n: n, k: k,
                                   alpha: 1, a: pa.baseAddress! + ia * m * k, lda: k,
                                   b: pb.baseAddress! + ib * k * n, ldb: n,
                                   beta: 0, c: o + ob * m * n, ldc: n)
                    }
                }
            }
        }
        initialized = total
    }
}

/// The generic MatMul loop (i-k-j order so the inner loop runs along contiguous rows).
private struct MathMatMulVisitor: MathTypeVisitor {
    let a: Tensor
    let b: Tensor
    let plan: MathMatMulPlan
    let pool: ThreadPool

    func visit<T: MathScalar>(_: T.Type) throws -> Tensor {
        let x = try a.values(T.self), y = try b.values(T.self)
        let (m, k, n) = (plan.m, plan.k, plan.n)
        let total = plan.batch.count * m * n
        var out = [T](repeating: .zero, count: total)
        if total > 0 && k > 0 {
            out.withUnsafeMutableBufferPointer { ob in
                x.withUnsafeBufferPointer { pa in
                    y.withUnsafeBufferPointer { pb in
                        plan.forEachBatch { bo, ia, ib in
                            let A = pa.baseAddress! + ia * m * k, B = pb.baseAddress! + ib * k * n
                            let C = ob.baseAddress! + bo * m * n
                            pool.parallelFor(m, minChunk: max(1, 4096 / max(1, k * n))) { rows in
                                for i in rows {
                                    let c = C + i * n
                                    for p in 0..<k {
                                        let av = A[i * k + p]
                                        let brow = B + p * n
                                        for j in 0..<n { c[j] = T.mathAdd(c[j], T.mathMul(av, brow[j])) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(unchecked: plan.outShape, storage: T.storage(out))
    }
}

/// ONNX MatMul with NumPy semantics: 1-D promotion and broadcast batch dims.
/// With a `cache`, a float32 product with a 2-D B runs on oneDNN's matmul with B packed once.
func mathMatMul(_ a: Tensor, _ b: Tensor, pool: ThreadPool, cache: MatMulBackendCache? = nil) throws -> Tensor {
    guard a.dtype == b.dtype else { throw KernelError("MatMul inputs must have the same dtype, got \(a.dtype) and \(b.dtype)") }
    let plan = try MathMatMulPlan(a.shape, b.shape)
    switch (a.storage, b.storage) {
    case let (.float32(x), .float32(y)):
        if let cache, b.rank == 2, plan.bIsSingleMatrix, plan.k > 0 {
            // A is [..., M, K] contiguous: every row goes into one product.
            let rows = plan.batch.count * plan.m, total = rows * plan.n
            var done = false
            let out = [Float](unsafeUninitializedCapacity: total) { o, initialized in
                initialized = total
                done = total > 0 && x.withUnsafeBufferPointer { pa in
                    cache.run(a: pa.baseAddress!, m: rows, k: plan.k, n: plan.n, w: y, transposedB: false, bias: nil, c: o.baseAddress!)
                }
            }
            if done { return Tensor(unchecked: plan.outShape, storage: .float32(out)) }
        }
        return Tensor(unchecked: plan.outShape, storage: .float32(mathMatMulFloat(x, y, plan)))
    case let (.float16(x), .float16(y)):
        let r = mathMatMulFloat(x.map(Float.init), y.map(Float.init), plan)
        return Tensor(unchecked: plan.outShape, storage: .float16(r.map { Float16($0) }))
    default:
        guard let r = try mathDispatch(a.dtype, MathMatMulVisitor(a: a, b: b, plan: plan, pool: pool)) else {
            throw KernelError("MatMul does not support dtype \(a.dtype)")
        }
        return r
    }
}

// MARK: Gemm

/// Gemm attributes, parsed at plan time.
struct MathGemmAttributes: Sendable {
    var transA: Bool
    var transB: Bool
    var alpha: Float
    var beta: Float
}

extension MathGemmAttributes {
    /// A Gemm node's attributes (ONNX defaults: no transposes, alpha and beta 1).
    init(_ node: Node) throws {
        self.init(transA: try node.int("transA", default: 0) != 0, transB: try node.int("transB", default: 0) != 0,
                  alpha: try node.float("alpha", default: 1), beta: try node.float("beta", default: 1))
    }
}

private struct MathGemmVisitor: MathTypeVisitor {
    let a: Tensor, b: Tensor, c: Tensor?
    let attrs: MathGemmAttributes
    let m: Int, k: Int, n: Int

    func visit<T: MathScalar>(_: T.Type) throws -> Tensor {
        let x = try a.values(T.self), y = try b.values(T.self)
        let alpha = T(fromDouble: Double(attrs.alpha)), beta = T(fromDouble: Double(attrs.beta))
        var out: [T]
        if let c, attrs.beta != 0 {
            out = try Broadcast.expand(try c.values(T.self), from: c.shape, to: [m, n]).map { T.mathMul(beta, $0) }
        } else {
            out = [T](repeating: .zero, count: m * n)
        }
        let lda = a.shape[1], ldb = b.shape[1]
        for i in 0..<m {
            for j in 0..<n {
                var s = T.zero
                for p in 0..<k {
                    let av = attrs.transA ? x[p * lda + i] : x[i * lda + p]
                    let bv = attrs.transB ? y[j * ldb + p] : y[p * ldb + j]
                    s = T.mathAdd(s, T.mathMul(av, bv))
                }
                out[i * n + j] = T.mathAdd(out[i * n + j], T.mathMul(alpha, s))
            }
        }
        return Tensor(unchecked: [m, n], storage: T.storage(out))
    }
}

/// ONNX Gemm: `alpha * op(A) * op(B) + beta * C`, C (optional) broadcast to [M, N].
/// With a `cache`, a float32 Gemm whose C is a bias row runs on oneDNN's matmul with B packed once.
/// With `relu` (a float Gemm → Relu fused by GemmActivationFusion), the result goes through Relu:
/// in the product's registers where it can, else in a pass over the output.
func mathGemm(_ a: Tensor, _ b: Tensor, _ c: Tensor?, _ attrs: MathGemmAttributes, cache: MatMulBackendCache? = nil, relu: Bool = false) throws -> Tensor {
    guard a.rank == 2, b.rank == 2 else { throw KernelError("Gemm A and B must be 2-D, got \(a.shape) and \(b.shape)") }
    guard a.dtype == b.dtype, c.map({ $0.dtype == a.dtype }) ?? true else {
        throw KernelError("Gemm inputs must have the same dtype, got A \(a.dtype), B \(b.dtype), C \(c.map { "\($0.dtype)" } ?? "none")")
    }
    let m = attrs.transA ? a.shape[1] : a.shape[0]
    let k = attrs.transA ? a.shape[0] : a.shape[1]
    let kb = attrs.transB ? b.shape[1] : b.shape[0]
    let n = attrs.transB ? b.shape[0] : b.shape[1]
    guard k == kb else {
        throw KernelError("Gemm inner dimensions differ: op(A) is [\(m), \(k)], op(B) is [\(kb), \(n)]")
    }
    guard m <= Int(Int32.max), n <= Int(Int32.max), k <= Int(Int32.max) else {
        throw KernelError("Gemm dimensions too large for BLAS: M=\(m) K=\(k) N=\(n)")
    }
    let count = try Shape.elementCount([m, n])

    func floatGemm(_ x: [Float], _ y: [Float], _ cv: [Float]?) throws -> [Float] {
        // A bias row (C of N values, beta 1) or no C: oneDNN's bias argument does the rest.
        let biasRow = cv == nil || attrs.beta == 0 ? nil : (c.map { $0.count == n && $0.shape.last == n } ?? false) && attrs.beta == 1 ? cv : nil
        if let cache, !attrs.transA, attrs.alpha == 1, cv == nil || attrs.beta == 0 || biasRow != nil, count > 0 {
            var done = false
            let out = [Float](unsafeUninitializedCapacity: count) { o, initialized in
                initialized = count
                done = x.withUnsafeBufferPointer { pa in
                    cache.run(a: pa.baseAddress!, m: m, k: k, n: n, w: y, transposedB: attrs.transB, bias: biasRow, c: o.baseAddress!, relu: relu)
                }
            }
            if done { return out }
        }
        var out = try gemmWithoutActivation(x, y, cv)
        if relu { reluInPlace(&out) }
        return out
    }

    func gemmWithoutActivation(_ x: [Float], _ y: [Float], _ cv: [Float]?) throws -> [Float] {
        var out: [Float]
        var beta: Float = 0
        if let c, let cv, attrs.beta != 0, cv.count == n, c.shape.last == n {
            // A bias row (a Linear layer at batch 1 and up): copied into each row, without the
            // general broadcast's index arithmetic (a tenth of a batch-1 MLP run).
            out = [Float](unsafeUninitializedCapacity: count) { o, initialized in
                for r in 0..<m { (o.baseAddress! + r * n).initialize(from: cv, count: n) }
                initialized = count
            }
            beta = attrs.beta
        } else if let c, let cv, attrs.beta != 0 {
            out = try Broadcast.expand(cv, from: c.shape, to: [m, n])
            beta = attrs.beta
        } else {
            out = [Float](repeating: 0, count: count)
        }
        guard count > 0 else { return out }
        out.withUnsafeMutableBufferPointer { o in
            x.withUnsafeBufferPointer { pa in
                y.withUnsafeBufferPointer { pb in
                    if k == 0 || pa.isEmpty || pb.isEmpty {
                        for i in 0..<count { o[i] *= beta }
                    } else {
                        BLAS.sgemm(transA: attrs.transA, transB: attrs.transB, m: m, n: n, k: k,
                                   alpha: attrs.alpha, a: pa.baseAddress!, lda: a.shape[1],
                                   b: pb.baseAddress!, ldb: b.shape[1], beta: beta, c: o.baseAddress!, ldc: n)
                    }
                }
            }
        }
        return out
    }

    guard !relu || a.dtype == .float32 else { throw KernelError("a Gemm with a fused Relu needs float32 inputs, got \(a.dtype)") }
    switch (a.storage, b.storage) {
    case let (.float32(x), .float32(y)):
        return Tensor(unchecked: [m, n], storage: .float32(try floatGemm(x, y, try c?.values(Float.self))))
    case let (.float16(x), .float16(y)):
        let r = try floatGemm(x.map(Float.init), y.map(Float.init), try c?.values(Float16.self).map(Float.init))
        return Tensor(unchecked: [m, n], storage: .float16(r.map { Float16($0) }))
    default:
        guard let r = try mathDispatch(a.dtype, MathGemmVisitor(a: a, b: b, c: c, attrs: attrs, m: m, k: k, n: n)) else {
            throw KernelError("Gemm does not support dtype \(a.dtype)")
        }
        return r
    }
}

/// Relu in place (NaN stays NaN, as the Relu kernel keeps it).
func reluInPlace(_ v: inout [Float]) {
    v.withUnsafeMutableBufferPointer { p in
        for i in p.indices where p[i] < 0 { p[i] = 0 }
    }
}
