import CThreadPlacement
import Foundation
import XCTest

@testable import BerthEngine

/// The intra-op pool: every index of every loop runs exactly once (also while workers are being
/// moved between CPUs), and the affinity calls the pool uses to move a worker really move it.
final class ThreadPoolTests: XCTestCase {
    func testEveryIndexRunsOnceAcrossManyLoops() {
        let pool = ThreadPool(threads: 3)
        for loop in 0..<2000 {
            let count = 1 + loop % 9
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
            hits.initialize(repeating: 0, count: count)
            defer { hits.deallocate() }
            // Distinct slots per index: no two pieces write the same word.
            pool.forEachIndex(count) { i in hits[i] += 1 }
            for i in 0..<count where hits[i] != 1 {
                XCTFail("loop \(loop): index \(i) ran \(hits[i]) times")
                return
            }
        }
    }

    /// Several callers on one pool at once (requests sharing a session's pool): each loop still
    /// runs every index once (a caller that finds the pool busy runs its loop alone), with pieces
    /// of uneven length so workers arrive late, and workers that fall asleep between bursts.
    func testConcurrentCallersEachRunEveryIndexOnce() {
        let pool = ThreadPool(threads: 3)
        let failures = FailureFlag()
        let group = DispatchGroup()
        for caller in 0..<4 {
            group.enter()
            Thread {
                defer { group.leave() }
                for loop in 0..<400 {
                    let count = 1 + (loop + caller) % 7
                    let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
                    hits.initialize(repeating: 0, count: count)
                    defer { hits.deallocate() }
                    pool.forEachIndex(count) { i in
                        if i == 0 && loop % 5 == 0 { usleep(50) }
                        hits[i] += 1
                    }
                    if (0..<count).contains(where: { hits[$0] != 1 }) { failures.set() }
                    // Now and then long enough for the workers to stop spinning and sleep.
                    if loop % 100 == 99 { usleep(3000) }
                }
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success, "a loop never finished")
        XCTAssertFalse(failures.isSet, "an index ran other than once")
    }

    /// Workers spinning between loops measure the hand-off; the far rule needs a slow and recent one.
    func testHandOffIsMeasuredAndAnOldMeasureSaysNothing() {
        let pool = ThreadPool(threads: 2)
        XCTAssertFalse(pool.coresFarApart, "no measure yet")
        let sink = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        defer { sink.deallocate() }
        // Back-to-back loops with a few µs in each piece (so the worker, once started, takes pieces
        // and spins between loops) until a window of measures is in, or 5 s pass.
        let deadline = Date().addingTimeInterval(5)
        while pool.handOffNanos == 0 && Date() < deadline {
            pool.forEachIndex(2) { i in
                var x = i
                for k in 0..<2000 { x = x &* 31 &+ k }
                sink[i] = x
            }
        }
        XCTAssertGreaterThan(pool.handOffNanos, 0, "5 s of back-to-back loops and no spinning worker saw one")
        let far = ThreadPool.farNanos + 1
        XCTAssertTrue(ThreadPool.farApart(handOffNanos: far, age: 1_000_000))
        XCTAssertFalse(ThreadPool.farApart(handOffNanos: far, age: ThreadPool.staleNanos), "a stale measure")
        XCTAssertFalse(ThreadPool.farApart(handOffNanos: ThreadPool.farNanos, age: 0), "a near measure")
        XCTAssertFalse(ThreadPool.farApart(handOffNanos: far, age: .max), "no measure")
    }

    func testNestedLoopRunsOnTheCallingThread() {
        let pool = ThreadPool(threads: 2)
        let lock = NSLock()
        var seen: [Int] = []
        pool.forEachIndex(2) { outer in
            pool.forEachIndex(3) { inner in
                lock.lock()
                seen.append(outer * 10 + inner)
                lock.unlock()
            }
        }
        XCTAssertEqual(seen.sorted(), [0, 1, 2, 10, 11, 12])
    }

    /// A spinning thread told to avoid the CPU it runs on leaves it, and gets its mask back.
    func testAvoidCPUMovesARunningThreadAndRestoreGivesTheMaskBack() throws {
        #if os(Linux)
        final class Probe: @unchecked Sendable {
            let lock = NSLock()
            var thread: pthread_t?
            var cpu: Int32 = -1
            var stop = false
        }
        let probe = Probe()
        let t = Thread {
            probe.lock.lock()
            probe.thread = pthread_self()
            probe.lock.unlock()
            while true {
                let c = berth_current_cpu()
                probe.lock.lock()
                probe.cpu = c
                let stop = probe.stop
                probe.lock.unlock()
                if stop { break }
            }
        }
        t.start()
        defer { probe.lock.lock(); probe.stop = true; probe.lock.unlock() }
        func waitFor(_ ok: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline {
                probe.lock.lock()
                let done = ok()
                probe.lock.unlock()
                if done { return true }
                usleep(1000)
            }
            return false
        }
        XCTAssertTrue(waitFor { probe.thread != nil && probe.cpu >= 0 })
        probe.lock.lock()
        let thread = probe.thread!
        let from = probe.cpu
        probe.lock.unlock()
        var mask = berth_cpu_mask()
        XCTAssertEqual(berth_thread_mask(thread, &mask), 0)
        let allowed = withUnsafeBytes(of: mask) { $0.reduce(0) { $0 + $1.nonzeroBitCount } }
        try XCTSkipIf(allowed < 2, "one CPU allowed: nowhere to move to")
        XCTAssertEqual(berth_thread_avoid_cpu(thread, &mask, from), 0)
        XCTAssertTrue(waitFor { probe.cpu != from }, "still on CPU \(from)")
        var now = berth_cpu_mask()
        XCTAssertEqual(berth_thread_mask(thread, &now), 0)
        let bitsNow = withUnsafeBytes(of: now) { Array($0) }, bitsBefore = withUnsafeBytes(of: mask) { Array($0) }
        XCTAssertNotEqual(bitsNow, bitsBefore, "the CPU it left is excluded while avoiding")
        XCTAssertEqual(berth_thread_restore_mask(thread, &mask), 0)
        XCTAssertEqual(berth_thread_mask(thread, &now), 0)
        XCTAssertEqual(withUnsafeBytes(of: now) { Array($0) }, bitsBefore)
        // Nowhere else to go: refused, the mask untouched.
        var single = berth_cpu_mask()
        withUnsafeMutableBytes(of: &single) { $0[0] = 1 }
        XCTAssertEqual(berth_thread_avoid_cpu(thread, &single, 0), -1)
        #else
        throw XCTSkip("thread affinity is Linux-only")
        #endif
    }

    /// glibc takes the allocator thresholds a session sets (Session.allocatorConfigured), and the
    /// user's MALLOC_* variables leave them alone.
    func testAllocatorThresholdsAreAccepted() throws {
        #if os(Linux)
        let env = ProcessInfo.processInfo.environment
        try XCTSkipIf(env["MALLOC_MMAP_THRESHOLD_"] != nil || env["MALLOC_TRIM_THRESHOLD_"] != nil, "set by the environment")
        XCTAssertEqual(berth_configure_allocator(32 << 20, 1 << 30), 1)
        setenv("MALLOC_TRIM_THRESHOLD_", "131072", 1)
        defer { unsetenv("MALLOC_TRIM_THRESHOLD_") }
        XCTAssertEqual(berth_configure_allocator(32 << 20, 1 << 30), 0, "the environment's setting must win")
        #endif
    }
}
