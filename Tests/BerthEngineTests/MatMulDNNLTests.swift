@testable import BerthEngine
import BerthTensor
import XCTest

/// Products with a constant weight on oneDNN's matmul (weight packed on its second sighting):
/// Gemm with transB and a bias row, MatMul with a 3-D A, MatMulBias, each called repeatedly (GEMM
/// the first time, the packed weight after) and then with a new weight of the same shape (which
/// must not meet the old packed copy). Checked against double-precision sums written here;
/// tolerance 1e-5 relative to the output's largest magnitude (fp32 sums of up to 37 products in
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
}
