import BerthTensor
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
/// `instance_group: [{"count": 2}]`) are accepted too. A Triton repository's `config.pbtxt` maps
/// to the same type (``init(pbtxt:directory:)``), with its inputs, outputs, warm-up, parameters
/// and ensemble steps.
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
        /// Triton's priority levels (1 is served first); 0: one level.
        public var priorityLevels: Int = 0
        /// The level of a request that names none (or one out of range).
        public var defaultPriorityLevel: Int = 0
        public init(maxQueueDelayMicroseconds: Int = 0, preferredBatchSizes: [Int] = [], maxQueueSize: Int = 1024,
                    priorityLevels: Int = 0, defaultPriorityLevel: Int = 0) {
            self.maxQueueDelayMicroseconds = maxQueueDelayMicroseconds
            self.preferredBatchSizes = preferredBatchSizes
            self.maxQueueSize = maxQueueSize
            self.priorityLevels = priorityLevels
            self.defaultPriorityLevel = defaultPriorityLevel
        }

        /// The queue level of a request asking for `priority` (Triton's rule: 0 or a level past
        /// `priorityLevels` takes the default); 0 when the model has no levels.
        public func level(_ priority: Int?) -> Int {
            guard priorityLevels > 0 else { return 0 }
            guard let p = priority, p > 0, p <= priorityLevels else { return defaultPriorityLevel }
            return p
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
    /// Inputs the config declares (empty: the model's own); checked against the model at load.
    public var inputs: [TensorConfig] = []
    /// Outputs the config declares (empty: the model's own).
    public var outputs: [TensorConfig] = []
    /// Warm-up requests run before the version is ready (empty: one random sample of batch 1).
    public var warmup: [Warmup] = []
    /// Triton's `parameters` (string values).
    public var parameters: [String: String] = [:]
    /// The steps of a `platform: "ensemble"` model; nil for a model with its own file.
    public var ensemble: [EnsembleStep]?
    /// Fields of the config file Berth read but does not act on (dotted paths), reported in one
    /// warning per model at load.
    public var ignoredFields: [String] = []

    /// One declared input or output (Triton's `ModelInput` / `ModelOutput`).
    public struct TensorConfig: Sendable, Equatable {
        /// The tensor's name in the model.
        public var name: String
        /// The declared element type (nil: not declared).
        public var dtype: DType?
        /// The shape without the batch dimension when the model batches (-1: any size).
        public var dims: [Int]
        /// The shape the model itself takes or gives (without the batch dimension), when it
        /// differs from `dims`.
        public var reshape: [Int]?
        /// A labels file, one label per line (outputs; the classification extension).
        public var labelFile: URL?

        public init(name: String, dtype: DType? = nil, dims: [Int], reshape: [Int]? = nil, labelFile: URL? = nil) {
            self.name = name
            self.dtype = dtype
            self.dims = dims
            self.reshape = reshape
            self.labelFile = labelFile
        }
    }

    /// One warm-up sample (Triton's `ModelWarmup`), run `count` times before the version is ready.
    public struct Warmup: Sendable, Equatable {
        /// Where one input's values come from.
        public enum Source: Sendable, Equatable {
            case zero, random
            /// A file of raw row-major values (the model folder's `warmup/` subfolder).
            case file(URL)
        }
        /// One input of the sample.
        public struct Input: Sendable, Equatable {
            public var dtype: DType
            /// The shape without the batch dimension.
            public var dims: [Int]
            public var source: Source
        }
        public var name: String
        /// Rows per sample (0: the model does not batch; dims are the whole shape).
        public var batchSize: Int
        public var inputs: [String: Input]
        /// Times it runs (at least once).
        public var count: Int
    }

    /// One step of an ensemble: a model of the same repository and how its tensors are named in
    /// the ensemble (`input_map`: the step's input → ensemble tensor, `output_map`: the step's
    /// output → ensemble tensor).
    public struct EnsembleStep: Sendable, Equatable {
        public var model: String
        /// -1: the model's highest version.
        public var version: Int
        public var inputMap: [String: String]
        public var outputMap: [String: String]
    }

    public init(maxBatchSize: Int? = nil, dynamicBatching: DynamicBatching? = nil, instanceCount: Int = 1,
                versionPolicy: VersionPolicy = .latest(1), threads: Int? = nil) {
        self.maxBatchSize = maxBatchSize
        self.dynamicBatching = dynamicBatching
        self.instanceCount = instanceCount
        self.versionPolicy = versionPolicy
        self.threads = threads
    }
}
