/// Triton's statistics extension: `GET /v2/models[/{name}[/versions/{v}]]/stats`.
public struct TritonStatistics: Codable, Sendable, Equatable {
    /// A count of events and their total duration.
    public struct Duration: Codable, Sendable, Equatable {
        /// Events counted.
        public var count: Int
        /// Their total duration in nanoseconds.
        public var ns: UInt64
        /// A duration from its parts.
        public init(count: Int, ns: UInt64) {
            self.count = count
            self.ns = ns
        }
    }

    /// Per-request durations by phase.
    public struct InferenceStats: Codable, Sendable, Equatable {
        public var success: Duration
        public var fail: Duration
        public var queue: Duration
        public var computeInput: Duration
        public var computeInfer: Duration
        public var computeOutput: Duration
        /// Always zero: Berth has no response cache.
        public var cacheHit = Duration(count: 0, ns: 0)
        /// Always zero: Berth has no response cache.
        public var cacheMiss = Duration(count: 0, ns: 0)

        enum CodingKeys: String, CodingKey {
            case success, fail, queue, computeInput = "compute_input", computeInfer = "compute_infer"
            case computeOutput = "compute_output", cacheHit = "cache_hit", cacheMiss = "cache_miss"
        }

        /// Statistics from their parts.
        public init(success: Duration, fail: Duration, queue: Duration, computeInput: Duration, computeInfer: Duration,
                    computeOutput: Duration) {
            self.success = success
            self.fail = fail
            self.queue = queue
            self.computeInput = computeInput
            self.computeInfer = computeInfer
            self.computeOutput = computeOutput
        }
    }

    /// Execution durations for one batch size.
    public struct BatchStats: Codable, Sendable, Equatable {
        public var batchSize: Int
        public var computeInput: Duration
        public var computeInfer: Duration
        public var computeOutput: Duration

        enum CodingKeys: String, CodingKey {
            case batchSize = "batch_size", computeInput = "compute_input", computeInfer = "compute_infer"
            case computeOutput = "compute_output"
        }

        /// Statistics from their parts.
        public init(batchSize: Int, computeInput: Duration, computeInfer: Duration, computeOutput: Duration) {
            self.batchSize = batchSize
            self.computeInput = computeInput
            self.computeInfer = computeInfer
            self.computeOutput = computeOutput
        }
    }

    /// One model version's statistics.
    public struct ModelStats: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        /// Milliseconds since the epoch of the last inference (0: none yet).
        public var lastInference: UInt64
        /// Successful inferences counted in rows, as Triton does.
        public var inferenceCount: Int
        /// Model executions (a merged batch is one).
        public var executionCount: Int
        public var inferenceStats: InferenceStats
        public var batchStats: [BatchStats]

        enum CodingKeys: String, CodingKey {
            case name, version, lastInference = "last_inference", inferenceCount = "inference_count"
            case executionCount = "execution_count", inferenceStats = "inference_stats", batchStats = "batch_stats"
        }

        /// Statistics from their parts.
        public init(name: String, version: String, lastInference: UInt64, inferenceCount: Int, executionCount: Int,
                    inferenceStats: InferenceStats, batchStats: [BatchStats]) {
            self.name = name
            self.version = version
            self.lastInference = lastInference
            self.inferenceCount = inferenceCount
            self.executionCount = executionCount
            self.inferenceStats = inferenceStats
            self.batchStats = batchStats
        }
    }

    /// Every version asked for.
    public var modelStats: [ModelStats]

    enum CodingKeys: String, CodingKey { case modelStats = "model_stats" }

    /// Statistics of these versions.
    public init(modelStats: [ModelStats]) { self.modelStats = modelStats }
}
