import BerthEngine
import BerthProtocol
import BerthTensor
import Foundation
import Logging

/// Runs one model version's requests on `instance_count` worker threads, merging queued requests
/// along dim 0 (up to `max_batch_size` rows, waiting at most `max_queue_delay_us` for the first
/// request's batch to fill). Each caller gets exactly its own rows back. Requests whose non-batch
/// dimensions differ are never merged. The queue is bounded: a full queue refuses with 503.
///
/// Workers are plain threads blocked on a condition variable, so `Session.run` never occupies the
/// Swift concurrency pool; callers `await` a continuation the worker resumes. One exception saves
/// the two thread hand-offs (worker wake-up, continuation resume) that dominate the latency of a
/// fast model at low load: when nothing is queued, an instance is free, batching would not wait
/// (max_queue_delay 0) and the model's recent runs took under the inline limit (200 µs), the caller runs
/// the model itself — what an idle worker would have done, minus the hops.
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
        /// The caller's tenant (nil: none) and its start tag in the fair queue.
        var tenant: String?
        var tag: Double
        /// Triton's priority level: lower levels are taken first (0: the model has none).
        var priority = 0
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
    /// Waiting jobs in start-tag order (weighted fair queueing across tenants; see ``submit(_:rows:tenant:weight:)``).
    private var queue: [Job] = []
    /// The fair queue's virtual time (the tag of the last job taken) and each tenant's next start tag.
    private var virtualTime = 0.0
    private var nextTag: [String: Double] = [:]
    /// Jobs waiting per tenant.
    private var queuedBy: [String: Int] = [:]
    private var stopping = false
    /// Executions in progress (workers and inline callers); never more than `instances`.
    private var running = 0
    private let instances: Int
    /// Moving average of recent compute times; `.max` until the first run is measured.
    private var recentComputeNs = UInt64.max
    /// Requests run on the caller's thread so far (for tests).
    private(set) var inlineRuns = 0
    /// Models faster than this run inline on an idle batcher (see the type's documentation).
    private let inlineLimitNs: UInt64
    /// The default inline limit: 200 µs blocks a caller's thread no longer than parsing a request.
    static let defaultInlineLimitNs: UInt64 = 200_000
    private let finished = DispatchGroup()

    /// - Parameters:
    ///   - maxBatchSize: rows per merged execution; 0 disables merging.
    ///   - enforceMaxBatchSize: refuse requests with more rows than `maxBatchSize` (400).
    ///   - instances: worker threads.
    ///   - inlineLimitNs: compute time under which an idle batcher runs requests on the caller's thread.
    init(model: String, version: String, session: Session, maxBatchSize: Int, enforceMaxBatchSize: Bool = false,
         batching: ModelConfig.DynamicBatching, instances: Int, stats: ModelStatistics, metrics: ServerMetrics, logger: Logger,
         inlineLimitNs: UInt64 = Batcher.defaultInlineLimitNs) {
        self.inlineLimitNs = inlineLimitNs
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
        self.instances = max(1, instances)
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

    /// Whether nothing runs or waits right now (a worker that resumed its caller may still hold
    /// its slot for a moment).
    var idle: Bool { cond.lock(); defer { cond.unlock() }; return running == 0 && queue.isEmpty }

    /// Requests waiting right now.
    var pending: Int { cond.lock(); defer { cond.unlock() }; return queue.count }

    /// Queues `feeds`, counting their rows as the decoder does.
    func submit(_ feeds: [String: Tensor]) async throws -> Result {
        try await submit(feeds, rows: ModelInterface.rows(of: feeds, firstInput: inputNames.first))
    }

    /// Queues `feeds` (already checked against the model) and waits for its outputs. `rows` is
    /// ``ModelInterface/rows(of:)`` of the feeds, as the decoder computed it.
    ///
    /// Tenants share the queue fairly (start-time fair queueing): a job's tag is its tenant's
    /// previous finish tag or the queue's virtual time, whichever is later, and a tenant's finish
    /// tag advances by rows / `weight`; workers take the smallest tag first. So a tenant that
    /// queues a burst waits behind its own burst, while another tenant's next request is served
    /// after at most one job per competing tenant. The bound is shared too: when the queue is
    /// full, a tenant still holding less than an equal share may queue.
    func submit(_ feeds: [String: Tensor], rows: Int, tenant: String? = nil, weight: Double = 1, priority: Int = 0) async throws -> Result {
        // Requests merge when every input has the same dim 0 (the rows): the key is the rest of the shapes.
        var key: [[Int]]? = nil
        if maxBatchSize > 0 && rows > 0 {
            var k: [[Int]] = []
            k.reserveCapacity(inputNames.count)
            for name in inputNames {
                guard let t = feeds[name], t.rank >= 1, t.shape[0] == rows else { break }
                k.append(Array(t.shape.dropFirst()))
            }
            if k.count == inputNames.count { key = k }
        }
        if enforceMaxBatchSize && rows > maxBatchSize {
            throw ServerError.badRequest("inference request batch-size must be <= \(maxBatchSize) for '\(model)', got \(rows)")
        }
        if let inline = try runInlineIfIdle(feeds, rows: rows) { return inline }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Result, Error>) in
            cond.lock()
            if stopping {
                cond.unlock()
                c.resume(throwing: ServerError.notReady(model: model, version: version, state: "unloading"))
                return
            }
            // Past the bound only a tenant below an equal share may queue, and never past twice it.
            if queue.count >= capacity && (!underFairShare(tenant) || queue.count >= 2 * capacity) {
                cond.unlock()
                c.resume(throwing: ServerError.queueFull(model: model, version: version, capacity: capacity))
                return
            }
            enqueue(Job(feeds: feeds, rows: rows, key: key, enqueued: monotonicNanos(), continuation: c, tenant: tenant, tag: 0,
                        priority: priority), weight: weight)
            // Set under the lock, like the worker does when it takes jobs: set after unlocking, a
            // stale count could land after the worker's and leave the gauge at 1 with an empty queue.
            metrics.setPending(model: model, version: version, count: queue.count)
            cond.signal()
            cond.unlock()
        }
    }

    /// Inserts `job` at its fair-queue position: after every job of a higher priority (a lower
    /// level), and among its own level after every job with the same or a smaller tag. Under the lock.
    private func enqueue(_ job: Job, weight: Double) {
        var job = job
        let name = job.tenant ?? ""
        let start = max(virtualTime, nextTag[name] ?? 0)
        job.tag = start
        nextTag[name] = start + Double(max(1, job.rows)) / (weight.isFinite && weight > 0 ? weight : 1)
        queuedBy[name, default: 0] += 1
        var lo = 0, hi = queue.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let m = queue[mid]
            if m.priority < job.priority || (m.priority == job.priority && m.tag <= start) { lo = mid + 1 } else { hi = mid }
        }
        queue.insert(job, at: lo)
    }

    /// Removes the job at `index`. Only the head of the queue advances the virtual time: jobs
    /// merged into its batch from further back must not push other tenants' tags behind them.
    /// Under the lock.
    private func take(at index: Int, advancing: Bool) -> Job {
        let job = queue.remove(at: index)
        let name = job.tenant ?? ""
        if advancing { virtualTime = max(virtualTime, job.tag) }
        if let n = queuedBy[name], n > 1 { queuedBy[name] = n - 1 } else {
            queuedBy[name] = nil
            // An idle tenant's finish tag is forgotten once the queue has moved past it.
            if let t = nextTag[name], t <= virtualTime { nextTag[name] = nil }
        }
        if queue.isEmpty {
            // Nothing waits: restart the clock, so tags stay small.
            virtualTime = 0
            nextTag.removeAll(keepingCapacity: true)
        }
        return job
    }

    /// Whether `tenant` holds less than an equal share of the queue's capacity. Under the lock.
    private func underFairShare(_ tenant: String?) -> Bool {
        let name = tenant ?? ""
        let mine = queuedBy[name] ?? 0
        let tenants = queuedBy.count + (mine == 0 ? 1 : 0)
        return tenants > 1 && mine < capacity / tenants
    }

    /// Runs `feeds` on the calling thread when the batcher is idle and the model is fast; nil when
    /// the request must go through the queue.
    private func runInlineIfIdle(_ feeds: [String: Tensor], rows: Int) throws -> Result? {
        guard delayNs == 0 else { return nil }
        cond.lock()
        guard !stopping, queue.isEmpty, running < instances, recentComputeNs < inlineLimitNs else {
            cond.unlock()
            return nil
        }
        running += 1
        inlineRuns += 1
        cond.unlock()
        defer { finishedRun() }
        let start = monotonicNanos()
        let outputs: [String: Tensor]
        do { outputs = try session.run(feeds) } catch { throw ServerError.from(engine: error) }
        let done = monotonicNanos()
        record(rows: rows, requests: 1, queueNs: 0, inputNs: 0, inferNs: done - start, outputNs: 0)
        return Result(outputs: outputs, timing: BatchTiming(queueNs: 0, inputNs: 0, inferNs: done - start, outputNs: 0))
    }

    /// Releases an execution slot and wakes a worker if requests arrived meanwhile.
    private func finishedRun() {
        cond.lock()
        running -= 1
        if !queue.isEmpty { cond.broadcast() }
        cond.unlock()
    }

    /// Statistics, metrics and the compute-time average for one execution.
    private func record(rows: Int, requests: Int, queueNs: UInt64, inputNs: UInt64, inferNs: UInt64, outputNs: UInt64) {
        let compute = inputNs + inferNs + outputNs
        stats.recordExecution(rows: rows, inputNs: inputNs, inferNs: inferNs, outputNs: outputNs)
        metrics.recordExecution(model: model, version: version, rows: rows, requests: requests,
                                queueSeconds: Double(queueNs) / 1e9, computeSeconds: Double(compute) / 1e9)
        cond.lock()
        recentComputeNs = recentComputeNs == .max ? compute : (recentComputeNs * 7 + compute) / 8
        cond.unlock()
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
            finishedRun()
        }
    }

    /// Blocks until there is work; nil when stopping with an empty queue.
    private func nextBatch() -> [Job]? {
        cond.lock()
        defer { cond.unlock() }
        while queue.isEmpty || running >= instances {
            if queue.isEmpty && stopping { return nil }
            cond.wait()
        }
        running += 1
        let first = take(at: 0, advancing: true)
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
                    batch.append(take(at: i, advancing: false))
                    rows += j.rows
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
            record(rows: totalRows, requests: batch.count, queueNs: start - min(start, batch[0].enqueued),
                   inputNs: merged - start, inferNs: ran - merged, outputNs: done - ran)
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
            record(rows: job.rows, requests: 1, queueNs: start - min(start, job.enqueued),
                   inputNs: 0, inferNs: done - start, outputNs: 0)
            job.continuation.resume(returning: Result(outputs: outputs, timing: BatchTiming(
                queueNs: start - min(start, job.enqueued), inputNs: 0, inferNs: done - start, outputNs: 0)))
        } catch {
            job.continuation.resume(throwing: ServerError.from(engine: error))
        }
    }

    private struct SplitError: Error {}
}
