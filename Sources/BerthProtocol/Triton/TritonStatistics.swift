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

        /// Nothing counted.
        public static let zero = Duration(count: 0, ns: 0)
    }

    /// Per-request durations by phase.
    public struct InferenceStats: Codable, Sendable, Equatable {
        public var success = Duration.zero
        public var fail = Duration.zero
        public var queue = Duration.zero
        public var computeInput = Duration.zero
        public var computeInfer = Duration.zero
        public var computeOutput = Duration.zero
        /// Always zero: Berth has no response cache.
        public var cacheHit = Duration.zero
        /// Always zero: Berth has no response cache.
        public var cacheMiss = Duration.zero

        enum CodingKeys: String, CodingKey {
            case success, fail, queue, computeInput = "compute_input", computeInfer = "compute_infer"
            case computeOutput = "compute_output", cacheHit = "cache_hit", cacheMiss = "cache_miss"
        }

        /// Nothing counted yet; the server fills in the phases.
        public init() {}
    }

    /// Execution durations for one batch size.
    public struct BatchStats: Codable, Sendable, Equatable {
        public var batchSize: Int
        public var computeInput = Duration.zero
        public var computeInfer = Duration.zero
        public var computeOutput = Duration.zero

        enum CodingKeys: String, CodingKey {
            case batchSize = "batch_size", computeInput = "compute_input", computeInfer = "compute_infer"
            case computeOutput = "compute_output"
        }

        /// Nothing counted yet for this batch size.
        public init(batchSize: Int) { self.batchSize = batchSize }
    }

    /// One model version's statistics.
    public struct ModelStats: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        /// Milliseconds since the epoch of the last inference (0: none yet).
        public var lastInference: UInt64 = 0
        /// Successful inferences counted in rows, as Triton does.
        public var inferenceCount = 0
        /// Model executions (a merged batch is one).
        public var executionCount = 0
        public var inferenceStats = InferenceStats()
        public var batchStats: [BatchStats] = []

        enum CodingKeys: String, CodingKey {
            case name, version, lastInference = "last_inference", inferenceCount = "inference_count"
            case executionCount = "execution_count", inferenceStats = "inference_stats", batchStats = "batch_stats"
        }

        /// Nothing counted yet for this version.
        public init(name: String, version: String) {
            self.name = name
            self.version = version
        }
    }

    /// Every version asked for.
    public var modelStats: [ModelStats]

    enum CodingKeys: String, CodingKey { case modelStats = "model_stats" }

    /// Statistics of these versions.
    public init(modelStats: [ModelStats]) { self.modelStats = modelStats }
}
