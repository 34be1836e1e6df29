@testable import BerthEngine
import BerthONNX
import BerthTensor
import BerthTestSupport
import XCTest

/// The batch-1 packed row product (``PackedRowProduct``) and the Gemm → Relu fusion
/// (``GemmActivationFusion``) against double-precision sums written here: odd sizes (widths that
/// are not multiples of the 64-column panel, k of 1 and odd), B stored [K, N] and [N, K], with and
/// without bias and Relu, on 1 and 2 threads. Tolerance 1e-5 relative to the output's largest
/// magnitude (fp32 sums of up to 3,136 products against exact double sums).
final class PackedRowProductTests: XCTestCase {
    private func values(_ count: Int, seed: Int) -> [Float] { (0..<count).map { Float(($0 * 37 + seed * 11) % 29) / 29 - 0.5 } }

    private func reference(_ a: [Float], _ w: [Float], _ bias: [Float]?, m: Int, k: Int, n: Int, transB: Bool, relu: Bool) -> [Double] {
        var want = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s = bias.map { Double($0[j]) } ?? 0
            for p in 0..<k { s += Double(a[i * k + p]) * Double(transB ? w[j * k + p] : w[p * n + j]) }
            want[i * n + j] = relu ? max(s, 0) : s
        } }
        return want
    }

    private func assertClose(_ got: [Float], _ want: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        let scale = max(1, want.map(abs).max() ?? 0)
        let diff = zip(got, want).map { abs(Double($0) - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(diff, 1e-5 * scale, what, file: file, line: line)
    }

    func testRowProductMatchesDoubleSums() throws {
        try XCTSkipUnless(PackedRowProduct.enabled, "the packed row product needs AVX-512F")
        for threads in [1, 2] {
            let pool = ThreadPool(threads: threads)
            for (k, n) in [(1000, 256), (3136, 128), (7, 17), (517, 200), (1, 65), (300, 130), (64, 64), (33, 191)] {
                for transB in [false, true] {
                    for withBias in [false, true] {
                        for relu in [false, true] {
                            let a = values(k, seed: n), w = values(k * n, seed: k), bias = withBias ? values(n, seed: 3) : nil
                            var c = [Float](repeating: .nan, count: n)
                            let product = PackedRowProduct(constantWeight: true)
                            let done = a.withUnsafeBufferPointer { pa in
                                c.withUnsafeMutableBufferPointer { pc in
                                    func run(_ b: UnsafePointer<Float>?) -> Bool {
                                        product.run(a: pa.baseAddress!, k: k, n: n, w: w, transposedB: transB, bias: b, relu: relu, c: pc.baseAddress!, pool: pool)
                                    }
                                    return bias.map { $0.withUnsafeBufferPointer { run($0.baseAddress) } } ?? run(nil)
                                }
                            }
                            XCTAssertTrue(done)
                            assertClose(c, reference(a, w, bias, m: 1, k: k, n: n, transB: transB, relu: relu),
                                        "threads \(threads) k \(k) n \(n) transB \(transB) bias \(withBias) relu \(relu)")
                        }
                    }
                }
            }
        }
    }

    /// A weight not known constant is packed the second time the same array arrives; a NaN
    /// through the fused Relu stays NaN, as the Relu kernel keeps it.
    func testUnknownWeightWaitsAndNaNSurvivesRelu() throws {
        try XCTSkipUnless(PackedRowProduct.enabled, "the packed row product needs AVX-512F")
        let (k, n) = (5, 20)
        let w = values(k * n, seed: 1)
        var a = values(k, seed: 2)
        a[3] = .nan
        let product = PackedRowProduct(constantWeight: false)
        var c = [Float](repeating: 0, count: n)
        func run() -> Bool {
            a.withUnsafeBufferPointer { pa in c.withUnsafeMutableBufferPointer { product.run(a: pa.baseAddress!, k: k, n: n, w: w, transposedB: false, bias: nil, relu: true, c: $0.baseAddress!, pool: nil) } }
        }
        XCTAssertFalse(run(), "first sight of a non-initializer weight")
        XCTAssertTrue(run(), "the same array again")
        XCTAssertTrue(c.allSatisfy(\.isNaN))
    }

    /// Gemm → Relu becomes one GemmRelu whose outputs match double sums at batch 1 (the packed row
    /// product) and batched (oneDNN's matmul with a Relu post-op: whole, and on 2 threads in row
    /// pieces (300 rows) or column pieces (20 rows of 600 columns)); a Gemm whose output another
    /// node also reads stays apart.
    func testGemmReluIsFusedAndMatchesReference() throws {
        try checkGemmRelu(k: 70, n: 90, rows: [1, 3, 40])
        try checkGemmRelu(k: 170, n: 90, rows: [300])
        try checkGemmRelu(k: 200, n: 600, rows: [1, 20])
    }

    /// The batched product with a Relu post-op split over an explicit 2-thread pool (a session's
    /// products use the process-wide pool, whose size the first session fixes): row pieces for
    /// 300 rows, column pieces for 20 rows of 600 columns, and 1 row on the packed row product.
    func testReluPostOpInSplitProducts() throws {
        let pool = ThreadPool(threads: 2)
        for (m, k, n) in [(300, 170, 90), (20, 200, 600), (1, 200, 600)] {
            let a = values(m * k, seed: m).map { $0 * 3 }, w = values(k * n, seed: 9), bias = values(n, seed: 4)
            let cache = MatMulBackendCache(constantWeight: true)
            var c = [Float](repeating: .nan, count: m * n)
            let done = a.withUnsafeBufferPointer { pa in
                c.withUnsafeMutableBufferPointer { cache.run(a: pa.baseAddress!, m: m, k: k, n: n, w: w, transposedB: true, bias: bias, c: $0.baseAddress!, relu: true, pool: pool) }
            }
            guard done else { continue }  // a build without oneDNN (or AVX-512 at one row) runs it on GEMM
            assertClose(c, reference(a, w, bias, m: m, k: k, n: n, transB: true, relu: true), "rows \(m) k \(k) n \(n)")
        }
    }

    private func checkGemmRelu(k: Int, n: Int, rows: [Int]) throws {
        let w = values(k * n, seed: 5), bias = values(n, seed: 6)
        var gemm = TestModels.node("Gemm", ["X", "W", "B"], ["g"])
        gemm.attribute = [TestModels.intAttribute("transB", 1)]
        let model = TestModels.model(
            nodes: [gemm, TestModels.node("Relu", ["g"], ["Y"])],
            inputs: [TestModels.Tensor("X", .float32, [.symbolic("N"), .fixed(k)])], outputs: [TestModels.Tensor("Y", .float32, [.symbolic("N"), .fixed(n)])],
            initializers: [TestModels.initializer("W", dims: [Int64(n), Int64(k)], floats: w), TestModels.initializer("B", dims: [Int64(n)], floats: bias)])
        let data = try model.serializedData()
        for threads in [1, 2] {
            let session = try Session(data: data, options: SessionOptions(intraOpThreads: threads))
            XCTAssertEqual(session.model.graph.nodes.map(\.opType), GemmActivationFusion.enabled ? ["GemmRelu"] : ["Gemm", "Relu"])
            for m in rows {
                let a = values(m * k, seed: m).map { $0 * 3 }
                for _ in 0..<2 {  // the second call runs on the packed weights
                    let y = try session.run(["X": try Tensor(shape: [m, k], values: a)])["Y"]!.floats
                    assertClose(y, reference(a, w, bias, m: m, k: k, n: n, transB: true, relu: true), "threads \(threads) rows \(m)")
                }
            }
        }

        // The Gemm's output is also a graph output: it must survive, so nothing is fused.
        var kept = model
        kept.graph.output.append(TestModels.valueInfo("g", .float32, [.symbolic("N"), .fixed(n)]))
        let session = try Session(data: try kept.serializedData())
        XCTAssertEqual(session.model.graph.nodes.map(\.opType), ["Gemm", "Relu"])
    }
}
