import Foundation

/// Triton-style inference statistics of one model version (`GET .../stats`). Thread-safe; the
/// request path records into it inline.
public final class ModelStatistics: Sendable {
    /// A count and the total nanoseconds spent.
    public struct Duration: Sendable, Equatable {
        public var count: Int = 0
        public var ns: UInt64 = 0
        mutating func add(_ n: UInt64, count c: Int = 1) { count += c; ns &+= n }
    }

    /// Per-batch-size execution statistics.
    public struct BatchStats: Sendable, Equatable {
        public var computeInput = Duration()
        public var computeInfer = Duration()
        public var computeOutput = Duration()
    }

    /// A consistent copy of every counter.
    public struct Snapshot: Sendable, Equatable {
        /// Milliseconds since the epoch of the last finished request (0 = never).
        public var lastInference: UInt64 = 0
        /// Successful inferences counted in rows (a request of batch 4 counts 4), as Triton does.
        public var inferenceCount: Int = 0
        /// Model executions (one merged batch is one execution).
        public var executionCount: Int = 0
        public var success = Duration()
        public var fail = Duration()
        public var queue = Duration()
        public var computeInput = Duration()
        public var computeInfer = Duration()
        public var computeOutput = Duration()
        /// Keyed by executed batch size (rows).
        public var batches: [Int: BatchStats] = [:]
    }

    private let state = Locked(Snapshot())

    public init() {}

    /// The current counters.
    public var snapshot: Snapshot { state.withLock { $0 } }

    /// One successful request of `rows` rows with its end-to-end and per-phase times.
    func recordSuccess(rows: Int, totalNs: UInt64, timing: BatchTiming) {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        state.withLock { s in
            s.lastInference = now
            s.inferenceCount += rows
            s.success.add(totalNs)
            s.queue.add(timing.queueNs)
            s.computeInput.add(timing.inputNs)
            s.computeInfer.add(timing.inferNs)
            s.computeOutput.add(timing.outputNs)
        }
    }

    /// One failed request.
    func recordFailure(totalNs: UInt64) {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        state.withLock { s in
            s.lastInference = now
            s.fail.add(totalNs)
        }
    }

    /// One model execution of `rows` rows.
    func recordExecution(rows: Int, inputNs: UInt64, inferNs: UInt64, outputNs: UInt64) {
        state.withLock { s in
            s.executionCount += 1
            var b = s.batches[rows] ?? BatchStats()
            b.computeInput.add(inputNs)
            b.computeInfer.add(inferNs)
            b.computeOutput.add(outputNs)
            s.batches[rows] = b
        }
    }
}

/// Where one request's time went inside the batcher, in nanoseconds.
struct BatchTiming: Sendable {
    var queueNs: UInt64 = 0
    var inputNs: UInt64 = 0
    var inferNs: UInt64 = 0
    var outputNs: UInt64 = 0
}
