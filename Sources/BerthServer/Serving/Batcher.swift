import BerthEngine
import BerthTensor
import Foundation
import Logging

/// Runs one model version's requests on `instance_count` worker threads, merging queued requests
/// along dim 0 (up to `max_batch_size` rows, waiting at most `max_queue_delay_us` for the first
/// request's batch to fill). Each caller gets exactly its own rows back. Requests whose non-batch
/// dimensions differ are never merged. The queue is bounded: a full queue refuses with 503.
///
/// Workers are plain threads blocked on a condition variable, so `Session.run` never occupies the
/// Swift concurrency pool; callers `await` a continuation the worker resumes.
final class Batcher: @unchecked Sendable {
    /// What a caller gets back.
    struct Result: Sendable {
        var outputs: [String: Tensor]
        var timing: BatchTiming
    }

    private struct Job {
        var feeds: [String: Tensor]
        var rows: Int
        /// Shapes without dim 0 (model input order); nil when the request cannot be merged.
        var key: [[Int]]?
        var enqueued: UInt64
        var continuation: CheckedContinuation<Result, Error>
    }

    let model: String
    let version: String
    private let session: Session
    private let inputNames: [String]
    private let maxBatchSize: Int
    /// Whether requests above `maxBatchSize` rows are refused (set when config.json names
    /// max_batch_size, as Triton does); otherwise they run on their own.
    private let enforceMaxBatchSize: Bool
    private let delayNs: UInt64
    private let preferred: Set<Int>
    private let capacity: Int
    private let stats: ModelStatistics
    private let metrics: ServerMetrics
    private let logger: Logger

    private let cond = NSCondition()
    private var queue: [Job] = []
    private var stopping = false
    private let finished = DispatchGroup()

    /// - Parameters:
    ///   - maxBatchSize: rows per merged execution; 0 disables merging.
    ///   - enforceMaxBatchSize: refuse requests with more rows than `maxBatchSize` (400).
    ///   - instances: worker threads.
    init(model: String, version: String, session: Session, maxBatchSize: Int, enforceMaxBatchSize: Bool = false,
         batching: ModelConfig.DynamicBatching, instances: Int, stats: ModelStatistics, metrics: ServerMetrics, logger: Logger) {
        self.model = model
        self.version = version
        self.session = session
        self.inputNames = session.inputs.map(\.name)
        self.maxBatchSize = maxBatchSize
        self.enforceMaxBatchSize = enforceMaxBatchSize && maxBatchSize > 0
        self.delayNs = UInt64(max(0, batching.maxQueueDelayMicroseconds)) * 1000
        self.preferred = Set(batching.preferredBatchSizes)
        self.capacity = batching.maxQueueSize
        self.stats = stats
        self.metrics = metrics
        self.logger = logger
        for i in 0..<max(1, instances) {
            finished.enter()
            let t = Thread { [self] in
                self.workerLoop()
                self.finished.leave()
            }
            t.name = "berth-\(model)-v\(version)-\(i)"
            t.start()
        }
    }

    /// Requests waiting right now.
    var pending: Int { cond.lock(); defer { cond.unlock() }; return queue.count }

    /// Queues `feeds` (already validated against the model) and waits for its outputs.
    func submit(_ feeds: [String: Tensor]) async throws -> Result {
        var rows = 0
        var key: [[Int]]? = nil
        if maxBatchSize > 0 {
            var k: [[Int]] = []
            k.reserveCapacity(inputNames.count)
            var ok = true
            for (i, name) in inputNames.enumerated() {
                guard let t = feeds[name], t.rank >= 1 else { ok = false; break }
                if i == 0 { rows = t.shape[0] } else if t.shape[0] != rows { ok = false; break }
                k.append(Array(t.shape.dropFirst()))
            }
            if ok && rows > 0 { key = k } else { rows = feeds[inputNames.first ?? ""]?.shape.first ?? 1 }
        } else {
            rows = feeds[inputNames.first ?? ""]?.shape.first ?? 1
        }
        if enforceMaxBatchSize && rows > maxBatchSize {
            throw ServerError.badRequest("inference request batch-size must be <= \(maxBatchSize) for '\(model)', got \(rows)")
        }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Result, Error>) in
            cond.lock()
            if stopping {
                cond.unlock()
                c.resume(throwing: ServerError.notReady(model: model, version: version, state: "unloading"))
                return
            }
            if queue.count >= capacity {
                cond.unlock()
                c.resume(throwing: ServerError.queueFull(model: model, version: version, capacity: capacity))
                return
            }
            queue.append(Job(feeds: feeds, rows: rows, key: key, enqueued: monotonicNanos(), continuation: c))
            // Set under the lock, like the worker does when it takes jobs: set after unlocking, a
            // stale count could land after the worker's and leave the gauge at 1 with an empty queue.
            metrics.setPending(model: model, version: version, count: queue.count)
            cond.signal()
            cond.unlock()
        }
    }

    /// Stops taking requests, finishes every queued one, and returns when the workers have exited.
    func shutdown() async {
        beginShutdown()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            finished.notify(queue: .global()) { c.resume() }
        }
    }

    private func beginShutdown() {
        cond.lock()
        stopping = true
        cond.broadcast()
        cond.unlock()
    }

    // MARK: Worker

    private func workerLoop() {
        while let batch = nextBatch() {
            execute(batch)
        }
    }

    /// Blocks until there is work; nil when stopping with an empty queue.
    private func nextBatch() -> [Job]? {
        cond.lock()
        defer { cond.unlock() }
        while queue.isEmpty {
            if stopping { return nil }
            cond.wait()
        }
        let first = queue.removeFirst()
        var batch = [first]
        guard maxBatchSize > 0, let key = first.key, first.rows < maxBatchSize else {
            metrics.setPending(model: model, version: version, count: queue.count)
            return batch
        }
        var rows = first.rows
        let deadline = first.enqueued &+ delayNs
        while true {
            // Take every compatible queued request that still fits, oldest first.
            var i = 0
            while i < queue.count && rows < maxBatchSize {
                let j = queue[i]
                if j.key == key && rows + j.rows <= maxBatchSize {
                    batch.append(j)
                    rows += j.rows
                    queue.remove(at: i)
                } else {
                    i += 1
                }
            }
            if rows >= maxBatchSize || preferred.contains(rows) || stopping { break }
            let now = monotonicNanos()
            if now >= deadline { break }
            _ = cond.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) / 1e9))
        }
        metrics.setPending(model: model, version: version, count: queue.count)
        return batch
    }

    private func execute(_ batch: [Job]) {
        let start = monotonicNanos()
        if batch.count == 1 {
            runAlone(batch[0], start: start)
            return
        }
        do {
            // Merge along dim 0.
            var feeds: [String: Tensor] = [:]
            let totalRows = batch.reduce(0) { $0 + $1.rows }
            for name in inputNames {
                let parts = batch.map { $0.feeds[name]! }
                let storage = try TensorStorage.concatenate(parts.map(\.storage))
                feeds[name] = try Tensor(shape: [totalRows] + parts[0].shape.dropFirst(), storage: storage)
            }
            let merged = monotonicNanos()
            let outputs = try session.run(feeds)
            let ran = monotonicNanos()
            // Split back; every output must be row-aligned with the inputs.
            var perJob = [[String: Tensor]](repeating: [:], count: batch.count)
            for (name, out) in outputs {
                guard out.rank >= 1, out.shape[0] == totalRows else { throw SplitError() }
                let rowSize = out.count / max(1, totalRows)
                var row = 0
                for (k, job) in batch.enumerated() {
                    let s = out.storage.slice(row * rowSize..<(row + job.rows) * rowSize)
                    perJob[k][name] = Tensor(unchecked: [job.rows] + out.shape.dropFirst(), storage: s)
                    row += job.rows
                }
            }
            let done = monotonicNanos()
            stats.recordExecution(rows: totalRows, inputNs: merged - start, inferNs: ran - merged, outputNs: done - ran)
            metrics.recordExecution(model: model, version: version, rows: totalRows, requests: batch.count,
                                    queueSeconds: Double(start - batch[0].enqueued) / 1e9,
                                    computeSeconds: Double(done - start) / 1e9)
            for (k, job) in batch.enumerated() {
                let timing = BatchTiming(queueNs: start - min(start, job.enqueued), inputNs: merged - start,
                                         inferNs: ran - merged, outputNs: done - ran)
                job.continuation.resume(returning: Result(outputs: perJob[k], timing: timing))
            }
        } catch {
            // A merged run failed (or its outputs are not row-aligned): run each request alone so
            // that one bad request cannot fail the others.
            logger.debug("merged batch failed, running requests alone", metadata: ["error": "\(error)", "requests": "\(batch.count)"])
            for job in batch { runAlone(job, start: monotonicNanos()) }
        }
    }

    private func runAlone(_ job: Job, start: UInt64) {
        do {
            let outputs = try session.run(job.feeds)
            let done = monotonicNanos()
            stats.recordExecution(rows: job.rows, inputNs: 0, inferNs: done - start, outputNs: 0)
            metrics.recordExecution(model: model, version: version, rows: job.rows, requests: 1,
                                    queueSeconds: Double(start - min(start, job.enqueued)) / 1e9,
                                    computeSeconds: Double(done - start) / 1e9)
            job.continuation.resume(returning: Result(outputs: outputs, timing: BatchTiming(
                queueNs: start - min(start, job.enqueued), inputNs: 0, inferNs: done - start, outputNs: 0)))
        } catch {
            job.continuation.resume(throwing: ServerError.from(engine: error))
        }
    }

    private struct SplitError: Error {}
}
