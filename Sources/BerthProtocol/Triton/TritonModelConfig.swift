/// Triton's model configuration as `GET /v2/models/{name}/config` answers it (the JSON form of
/// `model_config.proto`), for the fields Berth serves with.
public struct TritonModelConfig: Codable, Sendable, Equatable {
    /// One input or output.
    public struct TensorConfig: Codable, Sendable, Equatable {
        /// The tensor's name.
        public var name: String
        /// Triton's type name (`TYPE_FP32`, `TYPE_STRING` ...).
        public var dataType: String
        /// Dimensions without the batch dimension when the model batches (`-1` for dynamic).
        public var dims: [Int]

        enum CodingKeys: String, CodingKey { case name, dataType = "data_type", dims }

        /// A tensor configuration from its parts.
        public init(name: String, dataType: String, dims: [Int]) {
            self.name = name
            self.dataType = dataType
            self.dims = dims
        }
    }

    /// Which versions are served: `{"latest":{"num_versions":N}}`, `{"all":{}}` or
    /// `{"specific":{"versions":[..]}}`.
    public enum VersionPolicy: Codable, Sendable, Equatable {
        /// The newest N versions.
        case latest(Int)
        /// Every version.
        case all
        /// The listed versions.
        case specific([Int])

        private enum Keys: String, CodingKey { case latest, all, specific }
        private enum Inner: String, CodingKey { case numVersions = "num_versions", versions }
        private struct Empty: Codable {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            if c.contains(.latest) {
                self = .latest(try c.nestedContainer(keyedBy: Inner.self, forKey: .latest).decode(Int.self, forKey: .numVersions))
            } else if c.contains(.specific) {
                self = .specific(try c.nestedContainer(keyedBy: Inner.self, forKey: .specific).decode([Int].self, forKey: .versions))
            } else if c.contains(.all) {
                self = .all
            } else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "version_policy needs latest, all or specific"))
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            switch self {
            case let .latest(n):
                var i = c.nestedContainer(keyedBy: Inner.self, forKey: .latest)
                try i.encode(n, forKey: .numVersions)
            case .all: try c.encode(Empty(), forKey: .all)
            case let .specific(v):
                var i = c.nestedContainer(keyedBy: Inner.self, forKey: .specific)
                try i.encode(v, forKey: .versions)
            }
        }
    }

    /// One group of model instances.
    public struct InstanceGroup: Codable, Sendable, Equatable {
        /// The group's name.
        public var name: String
        /// `KIND_CPU`.
        public var kind: String
        /// Instances (worker threads) in the group.
        public var count: Int

        /// A group from its parts.
        public init(name: String, kind: String, count: Int) {
            self.name = name
            self.kind = kind
            self.count = count
        }
    }

    /// The dynamic batcher's settings.
    public struct DynamicBatching: Codable, Sendable, Equatable {
        /// The queue's bound.
        public struct QueuePolicy: Codable, Sendable, Equatable {
            /// Requests that may wait; more are refused.
            public var maxQueueSize: Int
            enum CodingKeys: String, CodingKey { case maxQueueSize = "max_queue_size" }
            /// A policy from its bound.
            public init(maxQueueSize: Int) { self.maxQueueSize = maxQueueSize }
        }

        /// Batch sizes the batcher runs as soon as it has them.
        public var preferredBatchSize: [Int]
        /// How long the first request of a batch may wait for others.
        public var maxQueueDelayMicroseconds: Int
        /// The queue's bound.
        public var defaultQueuePolicy: QueuePolicy

        enum CodingKeys: String, CodingKey {
            case preferredBatchSize = "preferred_batch_size", maxQueueDelayMicroseconds = "max_queue_delay_microseconds"
            case defaultQueuePolicy = "default_queue_policy"
        }

        /// Settings from their parts.
        public init(preferredBatchSize: [Int], maxQueueDelayMicroseconds: Int, maxQueueSize: Int) {
            self.preferredBatchSize = preferredBatchSize
            self.maxQueueDelayMicroseconds = maxQueueDelayMicroseconds
            self.defaultQueuePolicy = QueuePolicy(maxQueueSize: maxQueueSize)
        }
    }

    /// A `parameters` value (Triton's `ModelParameter`).
    public struct Parameter: Codable, Sendable, Equatable {
        /// The value as a string.
        public var stringValue: String
        enum CodingKeys: String, CodingKey { case stringValue = "string_value" }
        /// A parameter from its value.
        public init(_ value: String) { stringValue = value }
    }

    /// The model's name.
    public var name: String
    /// `onnxruntime_onnx`: what Triton clients expect of an ONNX model.
    public var platform: String
    /// The backend that runs it.
    public var backend: String
    /// Which versions are served.
    public var versionPolicy: VersionPolicy
    /// Rows per merged execution (0: no batching).
    public var maxBatchSize: Int
    /// The inputs in model order.
    public var input: [TensorConfig]
    /// The outputs in model order.
    public var output: [TensorConfig]
    /// The instance groups.
    public var instanceGroup: [InstanceGroup]
    /// The dynamic batcher's settings; absent when the model does not batch.
    public var dynamicBatching: DynamicBatching?
    /// Free-form parameters.
    public var parameters: [String: Parameter]

    enum CodingKeys: String, CodingKey {
        case name, platform, backend, versionPolicy = "version_policy", maxBatchSize = "max_batch_size", input, output
        case instanceGroup = "instance_group", dynamicBatching = "dynamic_batching", parameters
    }

    /// A configuration from its parts.
    public init(name: String, platform: String, backend: String, versionPolicy: VersionPolicy, maxBatchSize: Int,
                input: [TensorConfig], output: [TensorConfig], instanceGroup: [InstanceGroup],
                dynamicBatching: DynamicBatching?, parameters: [String: Parameter]) {
        self.name = name
        self.platform = platform
        self.backend = backend
        self.versionPolicy = versionPolicy
        self.maxBatchSize = maxBatchSize
        self.input = input
        self.output = output
        self.instanceGroup = instanceGroup
        self.dynamicBatching = dynamicBatching
        self.parameters = parameters
    }
}
