import Foundation
import XCTest
@testable import BerthGenerate

/// The decode loop's worker threads: every chunk of every job runs exactly once, results written by
/// workers are visible to the caller when `run` returns, a concurrent caller is not lost, and
/// workers that fell asleep wake for the next job.
final class SpinningWorkersTests: XCTestCase {
    func testEveryChunkRunsOnceAndItsWritesAreVisible() {
        let workers = SpinningWorkers(count: 3)
        for chunks in [1, 2, 3, 7, 64] {
            for _ in 0..<200 {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: chunks)
                hits.initialize(repeating: 0, count: chunks)
                workers.run(chunks: chunks) { c in hits[c] += 1 }
                XCTAssertEqual(Array(UnsafeBufferPointer(start: hits, count: chunks)), [Int](repeating: 1, count: chunks))
                hits.deallocate()
            }
        }
    }

    func testConcurrentCallersAndSleepingWorkers() {
        let workers = SpinningWorkers(count: 2)
        let group = DispatchGroup()
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: 4 * 16)
        sums.initialize(repeating: 0, count: 4 * 16)
        // Each caller writes its own 16 slots only.
        nonisolated(unsafe) let shared = sums
        for caller in 0..<4 {
            DispatchQueue.global().async(group: group) {
                for _ in 0..<100 { workers.run(chunks: 16) { c in shared[caller * 16 + c] += 1 } }
            }
        }
        group.wait()
        XCTAssertEqual(Array(UnsafeBufferPointer(start: sums, count: 64)), [Int](repeating: 100, count: 64))
        sums.deallocate()
        // Long enough for the worker to give up spinning and sleep; the next job must still complete.
        Thread.sleep(forTimeInterval: 0.2)
        var ran = [false, false]
        ran.withUnsafeMutableBufferPointer { r in workers.run(chunks: 2) { r[$0] = true } }
        XCTAssertEqual(ran, [true, true])
    }
}
