import Foundation

extension ModelConfig {
    /// Parses `config.json` bytes; the error names the offending field.
    public init(json data: Data) throws {
        try self.init(try JSONBody.decode(ConfigFile.self, from: data, what: "config.json"))
        ignoredFields = try JSONBody.decode(ConfigKeys.self, from: data, what: "config.json").unknown
    }

    /// Most worker threads (instances) or intra-op threads one model may ask for.
    static let maxInstances = 256
    /// Largest `max_batch_size`.
    static let maxBatchSizeLimit = 1 << 20

    private init(_ f: ConfigFile) throws {
        self.init()
        func bad(_ m: String) -> ServerError { ServerError.badRequest("config.json: \(m)") }
        // Upper bounds keep a pushed config from spawning a thousand threads or overflowing a delay.
        if let m = f.maxBatchSize {
            guard (0...Self.maxBatchSizeLimit).contains(m) else { throw bad("'max_batch_size' must be 0...\(Self.maxBatchSizeLimit)") }
            maxBatchSize = m
        }
        if let d = f.dynamicBatching {
            var b = DynamicBatching()
            if let v = d.maxQueueDelayUs ?? d.maxQueueDelayMicroseconds {
                guard (0...60_000_000).contains(v) else { throw bad("'max_queue_delay_us' must be 0...60000000 (60 s)") }
                b.maxQueueDelayMicroseconds = v
            }
            b.preferredBatchSizes = d.preferredBatchSizes ?? d.preferredBatchSize ?? []
            if let v = d.maxQueueSize {
                guard (1...(1 << 20)).contains(v) else { throw bad("'max_queue_size' must be 1...\(1 << 20)") }
                b.maxQueueSize = v
            }
            if let levels = d.priorityLevels, levels > 0 {
                guard levels <= 1000 else { throw bad("'priority_levels' must be at most 1000") }
                let def = d.defaultPriorityLevel ?? levels
                guard (1...levels).contains(def) else { throw bad("'default_priority_level' must be 1...\(levels)") }
                b.priorityLevels = levels
                b.defaultPriorityLevel = def
            }
            dynamicBatching = b
        }
        if let n = f.instanceCount {
            instanceCount = n
        } else if let groups = f.instanceGroup {
            var total = 0
            for g in groups {
                let (t, o) = total.addingReportingOverflow(g.count ?? 1)
                guard !o else { throw bad("'instance_group' counts overflow") }
                total = t
            }
            instanceCount = total
        }
        guard (1...Self.maxInstances).contains(instanceCount) else { throw bad("'instance_count' must be 1...\(Self.maxInstances)") }
        if let t = f.threads {
            guard (1...Self.maxInstances).contains(t) else { throw bad("'threads' must be 1...\(Self.maxInstances)") }
            threads = t
        }
        if let p = f.versionPolicy {
            switch p {
            case let .latest(n):
                guard n >= 1 else { throw bad("'version_policy.latest' must be >= 1") }
                versionPolicy = .latest(n)
            case .all: versionPolicy = .all
            case let .specific(list):
                guard !list.isEmpty else { throw bad("'version_policy.specific' lists no versions") }
                versionPolicy = .specific(list)
            }
        }
    }
}

/// `config.json` as written: Berth's spellings and Triton's (`preferred_batch_size`,
/// `max_queue_delay_microseconds`, `instance_group`, `{"latest": {"num_versions": N}}`).
private struct ConfigFile: Decodable {
    struct Batching: Decodable {
        var maxQueueDelayUs: Int?
        var maxQueueDelayMicroseconds: Int?
        var preferredBatchSizes: [Int]?
        var preferredBatchSize: [Int]?
        var maxQueueSize: Int?
        var priorityLevels: Int?
        var defaultPriorityLevel: Int?
        enum CodingKeys: String, CodingKey {
            case maxQueueDelayUs = "max_queue_delay_us", maxQueueDelayMicroseconds = "max_queue_delay_microseconds"
            case preferredBatchSizes = "preferred_batch_sizes", preferredBatchSize = "preferred_batch_size"
            case maxQueueSize = "max_queue_size", priorityLevels = "priority_levels", defaultPriorityLevel = "default_priority_level"
        }
    }

    struct Group: Decodable { var count: Int? }

    /// `"all"`, `{"all": {}}`, `{"latest": N}` / `{"latest": {"num_versions": N}}`,
    /// `{"specific": [..]}` / `{"specific": {"versions": [..]}}`.
    enum Policy: Decodable {
        case latest(Int), all, specific([Int])

        private struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        private enum Inner: String, CodingKey { case numVersions = "num_versions", versions }

        init(from decoder: Decoder) throws {
            let usage = "'version_policy' must be {\"latest\": N}, \"all\" or {\"specific\": [..]}"
            if let s = try? decoder.singleValueContainer().decode(String.self) {
                guard s == "all" else { throw ServerError.badRequest("config.json: \(usage)") }
                self = .all
                return
            }
            guard let c = try? decoder.container(keyedBy: Key.self), c.allKeys.count == 1, let key = c.allKeys.first else {
                throw ServerError.badRequest("config.json: \(usage)")
            }
            switch key.stringValue {
            case "all": self = .all
            case "latest":
                if let n = try? c.decode(Int.self, forKey: key) { self = .latest(n); return }
                let inner = try c.nestedContainer(keyedBy: Inner.self, forKey: key)
                self = .latest(try inner.decodeIfPresent(Int.self, forKey: .numVersions) ?? 1)
            case "specific":
                if let v = try? c.decode([Int].self, forKey: key) { self = .specific(v); return }
                let inner = try c.nestedContainer(keyedBy: Inner.self, forKey: key)
                self = .specific(try inner.decodeIfPresent([Int].self, forKey: .versions) ?? [])
            default:
                throw ServerError.badRequest("config.json: unknown version_policy '\(key.stringValue)'")
            }
        }
    }

    var maxBatchSize: Int?
    var dynamicBatching: Batching?
    var instanceCount: Int?
    var instanceGroup: [Group]?
    var threads: Int?
    var versionPolicy: Policy?

    enum CodingKeys: String, CodingKey {
        case maxBatchSize = "max_batch_size", dynamicBatching = "dynamic_batching", instanceCount = "instance_count"
        case instanceGroup = "instance_group", threads, versionPolicy = "version_policy"
    }
}

/// The keys of `config.json` that ``ConfigFile`` does not read (top level and in
/// `dynamic_batching`), for the load warning: a misspelt or Triton-only key is never silently
/// dropped.
private struct ConfigKeys: Decodable {
    var unknown: [String] = []

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let known = Set(["max_batch_size", "dynamic_batching", "instance_count", "instance_group", "threads", "version_policy"])
        let batching = Set(["max_queue_delay_us", "max_queue_delay_microseconds", "preferred_batch_sizes", "preferred_batch_size",
                            "max_queue_size", "priority_levels", "default_priority_level"])
        for key in c.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !known.contains(key.stringValue) {
            unknown.append(key.stringValue)
        }
        if let d = try? c.nestedContainer(keyedBy: Key.self, forKey: Key(stringValue: "dynamic_batching")) {
            for key in d.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !batching.contains(key.stringValue) {
                unknown.append("dynamic_batching." + key.stringValue)
            }
        }
    }
}
