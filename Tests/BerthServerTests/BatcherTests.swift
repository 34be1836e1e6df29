import BerthEngine
@testable import BerthServer
import BerthTensor
import Foundation
import Logging
import XCTest

final class BatcherTests: XCTestCase {
    private func pendingGauge(_ metrics: ServerMetrics, model: String = "digits", version: String = "1") -> Double? {
        let prefix = #"berth_inference_pending_requests{model="\#(model)",version="\#(version)"} "#
        for line in metrics.exposition().split(separator: "\n") where line.hasPrefix(prefix) {
            return Double(line.dropFirst(prefix.count))
        }
        return nil
    }

    private func makeBatcher(_ session: Session, metrics: ServerMetrics, maxBatchSize: Int = 32,
                             delayUs: Int = 0, enforce: Bool = false, inlineLimitNs: UInt64 = Batcher.defaultInlineLimitNs) -> Batcher {
        var logger = Logger(label: "berth.test")
        logger.logLevel = .warning
        return Batcher(model: "digits", version: "1", session: session, maxBatchSize: maxBatchSize,
                       enforceMaxBatchSize: enforce, batching: .init(maxQueueDelayMicroseconds: delayUs), instances: 1,
                       stats: ModelStatistics(), metrics: metrics, logger: logger, inlineLimitNs: inlineLimitNs)
    }

    /// A configured max_batch_size is a limit, as in Triton: a larger request is refused with a
    /// message naming it; without a configured limit it runs on its own.
    func testRequestAboveConfiguredMaxBatchSizeIsRefused() async throws {
        let session = try Session(contentsOf: ServerHarness.digitsModel)
        let big = try session.sampleInputs(batch: 9)
        let strict = makeBatcher(session, metrics: ServerMetrics(), maxBatchSize: 8, enforce: true)
        do {
            _ = try await strict.submit(big)
            XCTFail("a 9-row request passed max_batch_size 8")
        } catch let e as ServerError {
            XCTAssertTrue(e.description.contains("batch-size must be <= 8"), e.description)
        }
        _ = try await strict.submit(try session.sampleInputs(batch: 8))
        let lenient = makeBatcher(session, metrics: ServerMetrics(), maxBatchSize: 8)
        _ = try await lenient.submit(big)
        await strict.shutdown()
        await lenient.shutdown()
    }

    /// A fast model on an idle batcher runs on the caller's thread (no worker hand-off); the first
    /// request, whose compute time is still unknown, goes through the worker; a slow model or a
    /// configured queue delay never runs inline.
    func testIdleFastModelRunsInline() async throws {
        let session = try Session(contentsOf: ServerHarness.digitsModel)
        let x = try session.sampleInputs(batch: 1)
        // A limit far above the model's time in any build mode (debug builds are ~10x slower).
        let fast = makeBatcher(session, metrics: ServerMetrics(), inlineLimitNs: 50_000_000)
        let want = try session.run(x)["probabilities"]!.floats
        for _ in 0..<10 {
            let got = try await fast.submit(x)
            XCTAssertEqual(got.outputs["probabilities"]?.floats, want)
            // A worker releases its slot just after resuming its caller: wait for it, so that
            // each request meets an idle batcher.
            for _ in 0..<10_000 where !fast.idle { try await Task.sleep(nanoseconds: 100_000) }
        }
        XCTAssertEqual(fast.inlineRuns, 9, "all but the first request (compute time still unknown) run inline")
        let delayed = makeBatcher(session, metrics: ServerMetrics(), delayUs: 100, inlineLimitNs: 50_000_000)
        for _ in 0..<5 { _ = try await delayed.submit(x) }
        XCTAssertEqual(delayed.inlineRuns, 0, "a queue delay means the worker should wait for a batch")
        let slow = makeBatcher(session, metrics: ServerMetrics(), inlineLimitNs: 1)
        for _ in 0..<5 { _ = try await slow.submit(x) }
        XCTAssertEqual(slow.inlineRuns, 0, "a model slower than the limit always goes to the worker")
        await slow.shutdown()
        await fast.shutdown()
        await delayed.shutdown()
    }

    /// The pending gauge must read 0 whenever no request waits. The submitting thread used to set
    /// the gauge after releasing the queue lock, so its stale count (1) could land after the
    /// worker had taken the job and set 0, leaving the gauge at 1 on an idle server.
    func testPendingGaugeIsZeroWhenIdle() async throws {
        let session = try Session(contentsOf: ServerHarness.digitsModel)
        let x = try session.sampleInputs(batch: 1)
        for (maxBatch, delay) in [(32, 0), (0, 0), (32, 200)] {
            let metrics = ServerMetrics()
            let batcher = makeBatcher(session, metrics: metrics, maxBatchSize: maxBatch, delayUs: delay)
            var stale = 0
            let rounds = 300
            for _ in 0..<rounds {
                _ = try await batcher.submit(x)
                if pendingGauge(metrics) != 0 { stale += 1 }
            }
            // Concurrent submitters too: once all are answered the queue is empty.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { for _ in 0..<25 { _ = try await batcher.submit(x) } }
                }
                try await group.waitForAll()
            }
            if pendingGauge(metrics) != 0 { stale += 1 }
            XCTAssertEqual(stale, 0, "max_batch_size \(maxBatch), delay \(delay) µs: the idle gauge was not 0 "
                           + "after \(stale) of \(rounds + 1) checks")
            XCTAssertEqual(batcher.pending, 0)
            await batcher.shutdown()
        }
    }

    func testRequestGateDrainsInFlightRequests() async throws {
        let gate = RequestGate()
        XCTAssertTrue(gate.enter())
        XCTAssertTrue(gate.enter())
        let closed = Locked(false)
        let drain = Task {
            await gate.closeAndWait()
            closed.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertFalse(gate.enter(), "a closing gate refuses new requests")
        XCTAssertFalse(closed.withLock { $0 }, "two requests still hold the gate")
        gate.leave()
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertFalse(closed.withLock { $0 }, "one request still holds the gate")
        gate.leave()
        await drain.value
        XCTAssertTrue(closed.withLock { $0 })
        XCTAssertEqual(gate.count, 0)
        // Closing an idle gate returns at once.
        await RequestGate().closeAndWait()
    }
}
