@testable import BerthEngine
import BerthTensor
import XCTest

/// Products with a constant weight on oneDNN's matmul (weight packed on its second sighting):
/// Gemm with transB and a bias row, MatMul with a 3-D A, MatMulBias, each called repeatedly (GEMM
/// the first time, the packed weight after) and then with a new weight of the same shape (which
/// must not meet the old packed copy). Checked against double-precision sums written here;
/// tolerance 1e-5 relative to the output's largest magnitude (fp32 sums of up to 1,000 products in
/// oneDNN's order against exact double sums).
final class MatMulDNNLTests: XCTestCase {
    private func values(_ count: Int, seed: Int) -> [Float] { (0..<count).map { Float(($0 * 37 + seed * 11) % 29) / 29 - 0.5 } }

    /// `a[m, k] · op(w) + bias` in double; `w` is [k, n], or [n, k] when transposed.
    private func reference(_ a: [Float], _ w: [Float], _ bias: [Float]?, m: Int, k: Int, n: Int, transposed: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s = Double(bias?[j] ?? 0)
            for p in 0..<k { s += Double(a[i * k + p]) * Double(transposed ? w[j * k + p] : w[p * n + j]) }
            out[i * n + j] = Float(s)
        } }
        return out
    }

    private func assertClose(_ got: Tensor, _ want: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let scale = max(1, want.map(abs).max() ?? 0)
        let diff = zip(got.floats, want).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        XCTAssertLessThanOrEqual(diff, 1e-5 * scale, what, file: file, line: line)
    }

    func testGemmWithTransposedWeightAndBiasRow() throws {
        let (m, k, n) = (5, 37, 40)
        let cache = MatMulBackendCache()
        let a = try Tensor(shape: [m, k], values: values(m * k, seed: 1))
        let bias = try Tensor(shape: [n], values: values(n, seed: 2))
        let attrs = MathGemmAttributes(transA: false, transB: true, alpha: 1, beta: 1)
        for seed in [3, 4] {
            let w = try Tensor(shape: [n, k], values: values(n * k, seed: seed))
            let want = reference(a.floats, w.floats, bias.floats, m: m, k: k, n: n, transposed: true)
            for call in 0..<3 { assertClose(try mathGemm(a, w, bias, attrs, cache: cache), want, "weight \(seed), call \(call)") }
        }
        // A broadcast C that is not a bias row, and alpha ≠ 1: GEMM, same answers as without a cache.
        let w = try Tensor(shape: [n, k], values: values(n * k, seed: 5))
        let scaled = MathGemmAttributes(transA: false, transB: true, alpha: 0.5, beta: 2)
        for _ in 0..<2 {
            let got = try mathGemm(a, w, bias, scaled, cache: cache)
            let plain = try mathGemm(a, w, bias, scaled)
            XCTAssertEqual(got.floats, plain.floats)
        }
    }

    func testMatMulWithBatchedAAndMatMulBias() throws {
        let (k, n) = (37, 24)
        let cache = MatMulBackendCache(), biasCache = MatMulBackendCache()
        let a = try Tensor(shape: [2, 3, k], values: values(6 * k, seed: 6))
        let w = try Tensor(shape: [k, n], values: values(k * n, seed: 7))
        let bias = try Tensor(shape: [n], values: values(n, seed: 8))
        let want = reference(a.floats, w.floats, nil, m: 6, k: k, n: n, transposed: false)
        let wantBias = reference(a.floats, w.floats, bias.floats, m: 6, k: k, n: n, transposed: false)
        for call in 0..<3 {
            let y = try mathMatMul(a, w, pool: ThreadPool(threads: 1), cache: cache)
            XCTAssertEqual(y.shape, [2, 3, n])
            assertClose(y, want, "MatMul call \(call)")
            let z = try matMulBias(a, w, bias, KernelContext(pool: ThreadPool(threads: 1)), cache: biasCache)
            XCTAssertEqual(z.shape, [2, 3, n])
            assertClose(z, wantBias, "MatMulBias call \(call)")
        }
    }

    /// Column pieces (``ColumnSplit``) against the double-precision sums: 1 to 9 rows and 33 rows,
    /// widths that are not multiples of 16 (the last piece takes the rest), stored [K, N] (each
    /// piece packs a strided slice) and [N, K], with and without a bias row, and GELU.
    func testColumnSplitPieces() throws {
        #if canImport(CDNNL)
        try XCTSkipUnless(DNNL.isAvailable)
        let pool = ThreadPool(threads: 2)
        for (m, k, n, pieces) in [(1, 37, 100, 2), (2, 64, 77, 3), (3, 5, 130, 2), (4, 37, 33, 2), (5, 100, 250, 4), (6, 17, 64, 2),
                                  (7, 37, 200, 3), (8, 129, 97, 2), (9, 37, 48, 3), (33, 70, 150, 2)] {
            for transposed in [false, true] {
                for hasBias in [false, true] {
                    let a = values(m * k, seed: m), w = values(k * n, seed: n), bias = values(n, seed: k)
                    let want = reference(a, w, hasBias ? bias : nil, m: m, k: k, n: n, transposed: transposed)
                    let spec = DNNL.MatMulSpec(m: m, k: k, n: n, transposedB: transposed, hasBias: hasBias, threads: 1)
                    let split = try w.withUnsafeBufferPointer { try ColumnSplit(spec, pieces: pieces, weights: $0.baseAddress!) }
                    var c = [Float](repeating: .nan, count: m * n)
                    let ok = a.withUnsafeBufferPointer { pa in
                        bias.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { split.run(a: pa.baseAddress!, bias: hasBias ? pb.baseAddress : nil, c: $0.baseAddress!, pool: pool) }
                        }
                    }
                    XCTAssertTrue(ok)
                    assertClose(try Tensor(shape: [m, n], values: c), want, "m \(m) k \(k) n \(n) transposed \(transposed) bias \(hasBias)")
                }
            }
        }
        // GELU as the piece's post-op: exact GELU of the reference.
        let (m, k, n) = (4, 37, 70)
        let a = values(m * k, seed: 1), w = values(k * n, seed: 2)
        let want = reference(a, w, nil, m: m, k: k, n: n, transposed: false).map { x in Float(0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))) }
        let split = try w.withUnsafeBufferPointer {
            try ColumnSplit(DNNL.MatMulSpec(m: m, k: k, n: n, transposedB: false, hasBias: false, threads: 1, gelu: true), pieces: 2, weights: $0.baseAddress!)
        }
        var c = [Float](repeating: .nan, count: m * n)
        XCTAssertTrue(a.withUnsafeBufferPointer { pa in c.withUnsafeMutableBufferPointer { split.run(a: pa.baseAddress!, bias: nil, c: $0.baseAddress!, pool: pool) } })
        assertClose(try Tensor(shape: [m, n], values: c), want, "GELU")
        #endif
    }

    /// The MLP's and the CNN's wide layers at batch 32 take the column split at 2 threads (the
    /// attention and FFN products of a 128-token sequence too: n > m), through the cache (GEMM on
    /// the first call, packed pieces after), with the Gemm's bias row; tall products keep row pieces.
    func testCacheSplitsWideProductsByColumns() throws {
        #if canImport(CDNNL)
        try XCTSkipUnless(MatMulBackendCache.enabled)
        XCTAssertEqual(ColumnSplit.pieces(m: 32, k: 1000, n: 256, threads: 2), 2 * ColumnSplit.piecesPerThread)
        XCTAssertEqual(ColumnSplit.pieces(m: 32, k: 3136, n: 128, threads: 2), 2 * ColumnSplit.piecesPerThread)
        XCTAssertLessThan(ColumnSplit.pieces(m: 4096, k: 256, n: 1024, threads: 2), 2)
        XCTAssertLessThan(ColumnSplit.pieces(m: 32, k: 1000, n: 256, threads: 1), 2)
        let (m, k, n) = (32, 1000, 250)
        let a = values(m * k, seed: 3), w = values(n * k, seed: 4), bias = values(n, seed: 5)
        let want = reference(a, w, bias, m: m, k: k, n: n, transposed: true)
        let cache = MatMulBackendCache(constantWeight: true)
        for call in 0..<3 {
            var c = [Float](repeating: .nan, count: m * n)
            let done = a.withUnsafeBufferPointer { pa in
                c.withUnsafeMutableBufferPointer { cache.run(a: pa.baseAddress!, m: m, k: k, n: n, w: w, transposedB: true, bias: bias, c: $0.baseAddress!, pool: ThreadPool(threads: 2)) }
            }
            XCTAssertTrue(done, "call \(call)")
            assertClose(try Tensor(shape: [m, n], values: c), want, "call \(call)")
        }
        #endif
    }
}
