@testable import BerthEngine
import BerthONNX
import BerthTensor
import XCTest

/// ``BLAS/splitSgemm`` on a 2-thread pool for a few rows (column pieces of sgemv, from
/// ``BLAS/gemvSplitMinimumWork`` multiply-adds on) against double-precision sums written here:
/// 1 to 8 rows, widths that are not multiples of 64 (the last piece takes the rest), B stored
/// [K, N] and [N, K], beta 0 and 1 (C holding a bias row). Tolerance 1e-5 relative to the
/// output's largest magnitude (fp32 sums of up to 1,000 products against exact double sums).
final class SplitSgemmTests: XCTestCase {
    private func values(_ count: Int, seed: Int) -> [Float] { (0..<count).map { Float(($0 * 37 + seed * 11) % 29) / 29 - 0.5 } }

    func testFewRowsSplitByColumns() {
        let pool = ThreadPool(threads: 2)
        for (m, k, n) in [(1, 1000, 256), (2, 300, 130), (3, 517, 200), (5, 256, 129), (8, 128, 300)] {
            for transB in [false, true] {
                for beta: Float in [0, 1] {
                    let a = values(m * k, seed: m), b = values(k * n, seed: n), bias = values(n, seed: k)
                    var c = [Float](repeating: 0, count: m * n)
                    if beta != 0 { for i in 0..<m { for j in 0..<n { c[i * n + j] = bias[j] } } }
                    let split = a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                BLAS.splitSgemm(transA: false, transB: transB, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: k,
                                                b: pb.baseAddress!, ldb: transB ? k : n, beta: beta, c: pc.baseAddress!, ldc: n, pool: pool)
                            }
                        }
                    }
                    XCTAssertEqual(split, m * n * k >= BLAS.gemvSplitMinimumWork, "m \(m) k \(k) n \(n): split taken")
                    guard split else { continue }
                    var want = [Double](repeating: 0, count: m * n)
                    for i in 0..<m { for j in 0..<n {
                        var s = beta == 0 ? 0 : Double(bias[j])
                        for p in 0..<k { s += Double(a[i * k + p]) * Double(transB ? b[j * k + p] : b[p * n + j]) }
                        want[i * n + j] = s
                    } }
                    let scale = max(1, want.map(abs).max() ?? 0)
                    let diff = zip(c, want).map { abs(Double($0) - $1) }.max() ?? .infinity
                    XCTAssertLessThanOrEqual(diff, 1e-5 * scale, "m \(m) k \(k) n \(n) transB \(transB) beta \(beta)")
                }
            }
        }
    }

    /// Products split over the running session's pool, not the first session's: a probe kernel
    /// records ``BLAS/pool`` during each run of a 1-thread and a 2-thread session, whichever came
    /// first, and outside a run it is the process's fallback.
    func testProductsSplitOverTheRunningSessionsPool() throws {
        final class Seen: @unchecked Sendable { var threads: [Int] = [] }
        let seen = Seen()
        var registry = KernelRegistry.standard
        registry.register("PoolProbe", domain: "berth.test") { _, _ in
            { inputs, _ in
                seen.threads.append(BLAS.pool?.threads ?? 0)
                return [inputs[0]!]
            }
        }
        let g = Graph(name: "probe", nodes: [Node(name: "p", opType: "PoolProbe", domain: "berth.test", inputs: ["x"], outputs: ["y"])],
                      initializers: [:], inputs: [ValueInfo(name: "x", dtype: .float32, shape: nil)],
                      outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil)])
        let model = Model(irVersion: 8, opsetImports: ["": 13, "berth.test": 1], graph: g)
        let one = try Session(model: model, options: SessionOptions(intraOpThreads: 1), registry: registry)
        let two = try Session(model: model, options: SessionOptions(intraOpThreads: 2), registry: registry)
        let x = try Tensor(shape: [1], values: [Float(1)])
        for session in [two, one, two, one] { _ = try session.run(["x": x]) }
        XCTAssertEqual(seen.threads, [2, 1, 2, 1])
        XCTAssertNil(BLAS.sessionPool, "outside a run no session pool is bound")
    }
}
