import Foundation

/// A registered model: the name clients use, plus descriptive fields.
public struct ModelRecord: Sendable, Codable, Equatable {
    /// The model name (also its V2 name when served).
    public var name: String
    /// Free text.
    public var description: String
    /// Free-form labels.
    public var tags: [String: String]
    /// The highest version number, nil when every version was deleted or none was pushed.
    public var latestVersion: Int?
    /// Alias name → version number.
    public var aliases: [String: Int]
    /// When the model's first push recorded it.
    public var createdAt: Date
    /// The actor of that first push (`--by` or the `x-berth-actor` header).
    public var createdBy: String
    /// The tenant that owns the model (its first pusher's); nil: no owner (pushed without authentication).
    public var tenant: String? = nil

    enum CodingKeys: String, CodingKey {
        case name, description, tags, aliases, tenant
        case latestVersion = "latest_version"
        case createdAt = "created_at"
        case createdBy = "created_by"
    }
}

/// One input or output of a model as clients see it.
public struct TensorSpec: Sendable, Codable, Equatable {
    /// The tensor name.
    public var name: String
    /// The Open Inference Protocol datatype (`FP32`, `INT64`, `BYTES` ...).
    public var datatype: String
    /// The dimensions; -1 for a dynamic one. Empty for an unknown rank.
    public var shape: [Int]
}

/// A model's inputs and outputs; a change breaks clients, so pushes compare it.
public struct ModelSignature: Sendable, Codable, Equatable {
    /// What clients send, in graph order; inputs with an initializer (constants) are left out.
    public var inputs: [TensorSpec]
    /// What the model returns, in graph order.
    public var outputs: [TensorSpec]
    /// For a GGUF language model: architecture, context, quantization and size (nil for ONNX).
    public var llm: LLMSignature? = nil

    /// Human-readable differences from `other` (empty when the two are compatible). Dynamic
    /// dimensions match anything; names, datatypes and ranks must agree.
    public func differences(from other: ModelSignature) -> [String] {
        Self.compare(inputs, other.inputs, kind: "input") + Self.compare(outputs, other.outputs, kind: "output")
    }

    private static func compare(_ new: [TensorSpec], _ old: [TensorSpec], kind: String) -> [String] {
        var out: [String] = []
        let oldByName = Dictionary(old.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newNames = Set(new.map(\.name))
        for o in old where !newNames.contains(o.name) { out.append("\(kind) '\(o.name)' was removed") }
        for n in new {
            guard let o = oldByName[n.name] else { out.append("\(kind) '\(n.name)' is new"); continue }
            if n.datatype != o.datatype { out.append("\(kind) '\(n.name)' datatype \(o.datatype) → \(n.datatype)") }
            let shapesAgree = n.shape.count == o.shape.count
                && zip(n.shape, o.shape).allSatisfy { $0 == $1 || $0 < 0 || $1 < 0 }
            if !shapesAgree { out.append("\(kind) '\(n.name)' shape \(o.shape) → \(n.shape)") }
        }
        return out
    }
}

/// One pushed version of a model. Immutable once recorded.
public struct VersionRecord: Sendable, Codable, Equatable {
    /// The name of the model the version belongs to.
    public var model: String
    /// 1, 2, … per model; never reused.
    public var version: Int
    /// SHA-256 of the ONNX file, lower-case hex.
    public var sha256: String
    /// Bytes.
    public var size: Int64
    /// Inputs and outputs read from the file.
    public var signature: ModelSignature
    /// Evaluation metrics by name (from `berth eval --json`).
    public var metrics: [String: Double]
    /// Lineage: the version this one was derived from.
    public var parent: Int?
    /// Lineage: a digest of the training data.
    public var trainingDataDigest: String?
    /// Lineage: free-form training parameters.
    public var params: [String: String]
    /// Free-form labels.
    public var tags: [String: String]
    /// How the version is served (`max_batch_size`, `dynamic_batching`, `instance_count`,
    /// `threads`, as in a repository's config.json); nil: the server's defaults.
    public var servingConfig: JSONNode?
    /// Aliases pointing at this version right now.
    public var aliases: [String]
    /// When the push recorded it.
    public var createdAt: Date
    /// Who pushed it (`--by`, default `$USER`, or the `x-berth-actor` header, default `api`).
    public var createdBy: String
    /// An Ed25519 signature over ``sha256`` (`berth registry sign`); nil: unsigned.
    public var artifactSignature: ArtifactSignature? = nil

    enum CodingKeys: String, CodingKey {
        case model, version, sha256, size, signature, metrics, parent, params, tags, aliases
        case artifactSignature = "artifact_signature"
        case trainingDataDigest = "training_data_digest"
        case servingConfig = "serving_config"
        case createdAt = "created_at"
        case createdBy = "created_by"
    }
}

/// One entry of a model's append-only history.
public struct RegistryEvent: Sendable, Codable, Equatable {
    /// What happened.
    public enum Action: String, Sendable, Codable, CaseIterable {
        /// Push of a version; alias set, removed, promoted, rolled back; version deleted; split set.
        case push, alias, unalias, promote, rollback, delete, traffic
        /// A signature recorded on a version (`to`).
        case sign
    }
    /// Increasing across the registry.
    public var id: Int64
    /// The name of the model the entry belongs to.
    public var model: String
    /// The kind of change; it decides which of `alias`, `from` and `to` are set.
    public var action: Action
    /// The alias concerned (alias, unalias, promote, rollback).
    public var alias: String?
    /// The version the alias pointed at before (or the deleted version).
    public var from: Int?
    /// The version it points at after (or the pushed version).
    public var to: Int?
    /// Who made the change (`--by` or the `x-berth-actor` header).
    public var actor: String
    /// Why, as given; empty when none was (a traffic change then records the new split).
    public var reason: String
    /// When the change was recorded.
    public var at: Date
}

/// How a model's requests are split between versions.
public struct TrafficPolicy: Sendable, Codable, Equatable {
    /// A share of traffic sent to (canary) or mirrored to (shadow) an alias's version.
    public struct Split: Sendable, Codable, Equatable {
        /// The alias whose version receives the share.
        public var alias: String
        /// 0–100.
        public var percent: Double
        /// The version the alias points at now (filled in when read).
        public var version: Int?

        /// `version` stays nil when setting a policy; the registry resolves it when reading.
        public init(alias: String, percent: Double, version: Int? = nil) {
            self.alias = alias
            self.percent = percent
            self.version = version
        }
    }

    /// The model's name (filled in when read).
    public var model: String
    /// Requests answered by the canary instead of production.
    public var canary: Split?
    /// Requests additionally run on the shadow; its answers are only compared.
    public var shadow: Split?

    /// A nil `canary` or `shadow` means none (setting clears it); `model` is filled in when read.
    public init(model: String = "", canary: Split? = nil, shadow: Split? = nil) {
        self.model = model
        self.canary = canary
        self.shadow = shadow
    }
}

/// What a server should serve for one model: every aliased version and how requests route.
public struct Deployment: Sendable, Equatable {
    /// The registry model name, also its V2 name.
    public var model: String
    /// Aliased version → SHA-256 of its artifact.
    public var versions: [Int: String]
    /// Aliased version → its serving configuration, when it has one.
    public var servingConfigs: [Int: JSONNode] = [:]
    /// The `production` version (the default route), if any.
    public var production: Int?
    /// The traffic split with versions resolved; splits whose alias is unset are dropped.
    public var traffic: TrafficPolicy

    /// A deployment without serving configurations (set ``servingConfigs`` afterwards).
    public init(model: String, versions: [Int: String], production: Int?, traffic: TrafficPolicy) {
        self.model = model
        self.versions = versions
        self.production = production
        self.traffic = traffic
    }
}

/// Which version of a model a reference names.
public enum VersionRef: Sendable, Equatable, CustomStringConvertible {
    /// A version number (1, 2, …).
    case number(Int)
    /// An alias name, resolved to the version it points at when the reference is used.
    case alias(String)

    /// Parses `3` or `production`.
    public init(_ text: String) {
        if let n = Int(text) { self = .number(n) } else { self = .alias(text) }
    }

    /// Splits `NAME@REF` (REF defaults to `defaultRef`).
    public static func parse(_ text: String, default defaultRef: VersionRef? = nil) -> (model: String, ref: VersionRef?) {
        guard let at = text.lastIndex(of: "@") else { return (text, defaultRef) }
        return (String(text[..<at]), VersionRef(String(text[text.index(after: at)...])))
    }

    public var description: String {
        switch self {
        case let .number(n): return String(n)
        case let .alias(a): return a
        }
    }
}

// The JSON shape written in docs/registry.md and the OpenAPI document has every field present,
// with `null` for an absent value, so clients can tell "none" from "not reported".
extension ModelRecord {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(tags, forKey: .tags)
        try c.encode(latestVersion, forKey: .latestVersion)
        try c.encode(aliases, forKey: .aliases)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(createdBy, forKey: .createdBy)
        try c.encode(tenant, forKey: .tenant)
    }
}

extension VersionRecord {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(version, forKey: .version)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(size, forKey: .size)
        try c.encode(signature, forKey: .signature)
        try c.encode(metrics, forKey: .metrics)
        try c.encode(parent, forKey: .parent)
        try c.encode(trainingDataDigest, forKey: .trainingDataDigest)
        try c.encode(params, forKey: .params)
        try c.encode(tags, forKey: .tags)
        try c.encode(servingConfig, forKey: .servingConfig)
        try c.encode(aliases, forKey: .aliases)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(createdBy, forKey: .createdBy)
        try c.encode(artifactSignature, forKey: .artifactSignature)
    }
}

extension RegistryEvent {
    enum CodingKeys: String, CodingKey { case id, model, action, alias, from, to, actor, reason, at }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(model, forKey: .model)
        try c.encode(action, forKey: .action)
        try c.encode(alias, forKey: .alias)
        try c.encode(from, forKey: .from)
        try c.encode(to, forKey: .to)
        try c.encode(actor, forKey: .actor)
        try c.encode(reason, forKey: .reason)
        try c.encode(at, forKey: .at)
    }
}

extension TrafficPolicy {
    enum CodingKeys: String, CodingKey { case model, canary, shadow }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(canary, forKey: .canary)
        try c.encode(shadow, forKey: .shadow)
    }
}

extension TrafficPolicy.Split {
    enum CodingKeys: String, CodingKey { case alias, percent, version }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(alias, forKey: .alias)
        try c.encode(percent, forKey: .percent)
        try c.encode(version, forKey: .version)
    }
}

/// A model with its versions and traffic split: `GET /api/v1/models/{name}` and
/// `berth registry show NAME --json` (the model's fields plus `versions` and `traffic`).
public struct ModelDetail: Encodable, Sendable {
    /// The model's own fields, encoded at the top level of the object.
    public var model: ModelRecord
    /// Every version of the model, ascending.
    public var versions: [VersionRecord]
    /// The traffic split with versions resolved.
    public var traffic: TrafficPolicy

    /// Bundles what `GET /api/v1/models/{name}` answers.
    public init(model: ModelRecord, versions: [VersionRecord], traffic: TrafficPolicy) {
        self.model = model
        self.versions = versions
        self.traffic = traffic
    }

    enum Keys: String, CodingKey { case versions, traffic }

    public func encode(to encoder: Encoder) throws {
        try model.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(versions, forKey: .versions)
        try c.encode(traffic, forKey: .traffic)
    }
}
