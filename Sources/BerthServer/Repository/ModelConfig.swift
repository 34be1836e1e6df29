import Foundation

/// A model's serving configuration, read from the optional `REPO/<model>/config.json`:
///
/// ```json
/// {"max_batch_size": 32,
///  "dynamic_batching": {"max_queue_delay_us": 500, "preferred_batch_sizes": [8, 16], "max_queue_size": 1024},
///  "instance_count": 1, "threads": 1,
///  "version_policy": {"latest": 2}}          // or "all", {"all": {}}, {"specific": [1, 3]}
/// ```
/// Triton's spellings (`{"latest": {"num_versions": 2}}`, `{"specific": {"versions": [1]}}`,
/// `instance_group: [{"count": 2}]`) are accepted too.
public struct ModelConfig: Sendable, Equatable {
    /// Which versions of a model should be live.
    public enum VersionPolicy: Sendable, Equatable {
        /// The N highest version numbers.
        case latest(Int)
        /// Every version on disk.
        case all
        /// Exactly these versions (those that exist).
        case specific([Int])

        /// The versions to serve out of those available.
        public func select(_ available: [Int]) -> [Int] {
            let sorted = available.sorted()
            switch self {
            case let .latest(n): return Array(sorted.suffix(max(1, n)))
            case .all: return sorted
            case let .specific(v): return sorted.filter(v.contains)
            }
        }
    }

    /// How requests are merged into batches.
    public struct DynamicBatching: Sendable, Equatable {
        /// How long the first request of a batch may wait for others, in microseconds.
        public var maxQueueDelayMicroseconds: Int = 0
        /// Batch sizes dispatched as soon as they are reached.
        public var preferredBatchSizes: [Int] = []
        /// Requests allowed to wait; more are refused with 503.
        public var maxQueueSize: Int = 1024
        public init(maxQueueDelayMicroseconds: Int = 0, preferredBatchSizes: [Int] = [], maxQueueSize: Int = 1024) {
            self.maxQueueDelayMicroseconds = maxQueueDelayMicroseconds
            self.preferredBatchSizes = preferredBatchSizes
            self.maxQueueSize = maxQueueSize
        }
    }

    /// The largest merged batch (rows along dim 0); 0 disables batching; nil picks a default from
    /// the model (32 when every input's first dimension is dynamic, else 0).
    public var maxBatchSize: Int?
    /// Batching parameters; nil means the defaults (no added delay).
    public var dynamicBatching: DynamicBatching?
    /// Worker threads running the model at once.
    public var instanceCount: Int
    /// Which versions to serve.
    public var versionPolicy: VersionPolicy
    /// Intra-op threads per run; nil uses the server default.
    public var threads: Int?

    public init(maxBatchSize: Int? = nil, dynamicBatching: DynamicBatching? = nil, instanceCount: Int = 1,
                versionPolicy: VersionPolicy = .latest(1), threads: Int? = nil) {
        self.maxBatchSize = maxBatchSize
        self.dynamicBatching = dynamicBatching
        self.instanceCount = instanceCount
        self.versionPolicy = versionPolicy
        self.threads = threads
    }
}
