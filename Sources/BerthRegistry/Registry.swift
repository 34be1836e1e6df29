import BerthGate
import Foundation

/// What a push records besides the file.
public struct PushRequest: Sendable {
    /// The model to push to; created by its first push.
    public var model: String
    /// Sets the model's description when given.
    public var description: String?
    /// Free-form labels of the new version (`--tag k=v`).
    public var tags: [String: String]
    /// Lineage: free-form training parameters (`--param k=v`).
    public var params: [String: String]
    /// Lineage: the version this one was derived from (it must exist); nil: none.
    public var parent: Int?
    /// Lineage: a digest of the training data, recorded as given; nil: unknown.
    public var trainingDataDigest: String?
    /// Evaluation metrics by name (see ``MetricsFile``); empty when none were given.
    public var metrics: [String: Double]
    /// Accept a signature that differs from production's.
    public var allowSignatureChange: Bool
    /// How the version is served (batching, instances, threads) as a JSON object; nil: defaults.
    /// The server validates it before pushing (the registry only checks it is an object).
    public var servingConfig: JSONNode?
    /// Who pushes; recorded as the version's `created_by` and in the history.
    public var actor: String
    /// Why, for the history; may be empty.
    public var reason: String
    /// The tenant that owns the model when this push creates it (the pushing key's); nil: none.
    public var tenant: String?
    /// Push only into a model `tenant` owns (or a new one): checked inside the write, so a cached
    /// ownership elsewhere cannot let another tenant's key in. Off for admins and open servers.
    public var enforceOwner = false
    /// A signature over the artifact's digest, recorded with the version.
    public var artifactSignature: ArtifactSignature?

    /// Only the model and the actor are required; everything else defaults to empty, nil or false.
    public init(model: String, description: String? = nil, tags: [String: String] = [:], params: [String: String] = [:],
                parent: Int? = nil, trainingDataDigest: String? = nil, metrics: [String: Double] = [:],
                allowSignatureChange: Bool = false, servingConfig: JSONNode? = nil, actor: String, reason: String = "") {
        self.model = model
        self.description = description
        self.tags = tags
        self.params = params
        self.parent = parent
        self.trainingDataDigest = trainingDataDigest
        self.metrics = metrics
        self.allowSignatureChange = allowSignatureChange
        self.servingConfig = servingConfig
        self.actor = actor
        self.reason = reason
    }
}

/// Who asked for a change and why; recorded in the history.
public struct Change: Sendable {
    /// Who made the change (`--by`, default `$USER`; `x-berth-actor`, default `api`).
    public var actor: String
    /// Free text for the history; may be empty.
    public var reason: String
    /// A change by `actor`, with an optional reason.
    public init(actor: String, reason: String = "") {
        self.actor = actor
        self.reason = reason
    }
}

/// The model registry: versions, aliases and their history, traffic policies and verified
/// artifacts. ``SQLiteRegistry`` keeps it in an embedded database; a shared database (PostgreSQL)
/// can implement the same protocol so that replicas agree.
public protocol Registry: Sendable {
    /// The artifact store the registry's files live in.
    var store: any ArtifactStorage { get }

    /// Records a staged artifact as the model's next version (creating the model on its first
    /// push). The staged file is moved into the store or, on failure, deleted.
    func push(_ staged: StagedArtifact, _ request: PushRequest) throws -> VersionRecord
    /// Every model, by name.
    func models() throws -> [ModelRecord]
    /// One model.
    func model(_ name: String) throws -> ModelRecord
    /// A model's versions, ascending.
    func versions(of model: String) throws -> [VersionRecord]
    /// One version, by number or alias.
    func version(_ model: String, _ ref: VersionRef) throws -> VersionRecord
    /// Points an alias at a version.
    @discardableResult
    func setAlias(_ model: String, _ alias: String, version: Int, change: Change) throws -> RegistryEvent
    /// Removes an alias.
    @discardableResult
    func removeAlias(_ model: String, _ alias: String, change: Change) throws -> RegistryEvent
    /// Checks that `version` may become `alias` (it exists, its metrics meet the gates).
    func checkPromotion(_ model: String, version: Int, gates: [Gate], alias: String) throws
    /// Moves `alias` (normally `production`) to `version` once the gates pass.
    @discardableResult
    func promote(_ model: String, version: Int, gates: [Gate], alias: String, change: Change) throws -> RegistryEvent
    /// The version a rollback of `alias` would move it to.
    func rollbackTarget(_ model: String, alias: String) throws -> Int
    /// Moves `alias` back to the version it pointed at before the current one.
    @discardableResult
    func rollback(_ model: String, alias: String, change: Change) throws -> RegistryEvent
    /// The model's history, oldest first (only one alias's entries when given).
    func history(_ model: String, alias: String?) throws -> [RegistryEvent]
    /// Deletes a version no alias points at.
    @discardableResult
    func deleteVersion(_ model: String, _ version: Int, change: Change) throws -> RegistryEvent
    /// Sets the traffic split.
    @discardableResult
    func setTraffic(_ model: String, _ policy: TrafficPolicy, change: Change) throws -> TrafficPolicy
    /// The traffic split with versions resolved.
    func traffic(_ model: String) throws -> TrafficPolicy
    /// What to serve, for every model with at least one alias.
    func deployments() throws -> [Deployment]
    /// A number that changes with every write (servers poll it).
    func revision() throws -> Int64
    /// Records `signature` (already checked by the caller) on a version, replacing any other.
    func setArtifactSignature(_ model: String, _ version: Int, _ signature: ArtifactSignature, change: Change) throws -> VersionRecord
}

extension Registry {
    /// Copies a file into the store and records it.
    public func push(file: URL, _ request: PushRequest) throws -> VersionRecord {
        try push(try store.stage(copying: file), request)
    }

    /// A version together with its artifact, whose checksum was just verified.
    public func artifact(_ model: String, _ ref: VersionRef) throws -> (record: VersionRecord, url: URL) {
        let record = try version(model, ref)
        do {
            return (record, try store.verifiedURL(sha256: record.sha256, size: record.size))
        } catch let e as RegistryError {
            throw RegistryError.corruptArtifact(model: model, version: record.version, reason: e.description)
        }
    }
}
