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

    /// Parses `config.json` bytes; the error names the offending field.
    public init(json data: Data) throws {
        self.init()
        let root: JSONValue
        do {
            root = try data.withUnsafeBytes { raw in
                var r = JSONReader(raw.bindMemory(to: UInt8.self))
                return try r.parse()
            }
        } catch let e as JSONSyntaxError {
            throw ServerError.badRequest("config.json: \(e)")
        }
        guard case .object = root else { throw ServerError.badRequest("config.json must be a JSON object") }
        func int(_ v: JSONValue?, _ field: String) throws -> Int? {
            guard let v, !v.isNull else { return nil }
            guard let i = v.intValue else { throw ServerError.badRequest("config.json: '\(field)' must be an integer") }
            return i
        }
        func ints(_ v: JSONValue?, _ field: String) throws -> [Int] {
            guard let v, !v.isNull else { return [] }
            guard let a = v.arrayValue else { throw ServerError.badRequest("config.json: '\(field)' must be an array of integers") }
            return try a.map { try int($0, field) ?? 0 }
        }
        if let m = try int(root["max_batch_size"], "max_batch_size") {
            guard m >= 0 else { throw ServerError.badRequest("config.json: 'max_batch_size' must be >= 0") }
            maxBatchSize = m
        }
        if let d = root["dynamic_batching"], !d.isNull {
            guard case .object = d else { throw ServerError.badRequest("config.json: 'dynamic_batching' must be an object") }
            var b = DynamicBatching()
            if let v = try int(d["max_queue_delay_us"] ?? d["max_queue_delay_microseconds"], "max_queue_delay_us") {
                guard v >= 0 else { throw ServerError.badRequest("config.json: 'max_queue_delay_us' must be >= 0") }
                b.maxQueueDelayMicroseconds = v
            }
            b.preferredBatchSizes = try ints(d["preferred_batch_sizes"] ?? d["preferred_batch_size"], "preferred_batch_sizes")
            if let v = try int(d["max_queue_size"], "max_queue_size") {
                guard v > 0 else { throw ServerError.badRequest("config.json: 'max_queue_size' must be > 0") }
                b.maxQueueSize = v
            }
            dynamicBatching = b
        }
        if let n = try int(root["instance_count"], "instance_count") {
            instanceCount = n
        } else if let groups = root["instance_group"]?.arrayValue {
            instanceCount = try groups.reduce(0) { $0 + (try int($1["count"], "instance_group.count") ?? 1) }
        }
        guard instanceCount >= 1 else { throw ServerError.badRequest("config.json: 'instance_count' must be >= 1") }
        if let t = try int(root["threads"], "threads") {
            guard t >= 1 else { throw ServerError.badRequest("config.json: 'threads' must be >= 1") }
            threads = t
        }
        if let vp = root["version_policy"], !vp.isNull {
            versionPolicy = try Self.parsePolicy(vp, int: int, ints: ints)
        }
    }

    private static func parsePolicy(_ v: JSONValue, int: (JSONValue?, String) throws -> Int?,
                                    ints: (JSONValue?, String) throws -> [Int]) throws -> VersionPolicy {
        if v.stringValue == "all" { return .all }
        guard let o = v.objectValue, o.count == 1, let (key, value) = o.first else {
            throw ServerError.badRequest("config.json: 'version_policy' must be {\"latest\": N}, \"all\" or {\"specific\": [..]}")
        }
        switch key {
        case "all": return .all
        case "latest":
            let n: Int
            if case .object = value { n = try int(value["num_versions"], "version_policy.latest.num_versions") ?? 1 }
            else { n = try int(value, "version_policy.latest") ?? 1 }
            guard n >= 1 else { throw ServerError.badRequest("config.json: 'version_policy.latest' must be >= 1") }
            return .latest(n)
        case "specific":
            let list: [Int]
            if case .object = value { list = try ints(value["versions"], "version_policy.specific.versions") }
            else { list = try ints(value, "version_policy.specific") }
            guard !list.isEmpty else { throw ServerError.badRequest("config.json: 'version_policy.specific' lists no versions") }
            return .specific(list)
        default:
            throw ServerError.badRequest("config.json: unknown version_policy '\(key)'")
        }
    }
}
