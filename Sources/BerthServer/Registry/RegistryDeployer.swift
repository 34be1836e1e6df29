import BerthGate
import BerthRegistry
import Foundation
import Logging

/// Keeps the ``ModelManager`` serving what the registry says: every aliased version loaded,
/// `production` (with its canary and shadow) routed. Changes through the admin API apply before
/// the call returns; changes by other processes are found by polling the registry's revision.
/// Operations run one at a time, so a slow load never interleaves with another change.
public actor RegistryDeployer {
    /// The registry it deploys from; read it directly, but make changes through the deployer.
    public nonisolated let registry: any Registry
    /// The manager whose registry models it loads, routes and unloads.
    public nonisolated let manager: ModelManager
    private nonisolated let logger: Logger
    private var revision: Int64?
    private var deployed: [String: Deployment] = [:]
    /// Models whose last deployment failed, and when: retried after ``retryInterval``.
    private var failedAt: [String: ContinuousClock.Instant] = [:]
    private var tail: Task<Void, Never>?
    /// How long a deployment that failed to load waits before a poll tries it again (a disk or
    /// memory hiccup should not keep a model down until the registry next changes).
    public nonisolated let retryInterval: Duration
    /// Set with `--require-signed`: only versions signed by a trusted key are pushed or loaded.
    public nonisolated let trust: ArtifactTrust?
    /// Decrypted copies of encrypted artifacts handed to the manager, deleted once it has loaded them.
    private nonisolated let copies = Locked<[URL]>([])
    /// Fired when another replica changed the shared registry: the poll looks at once.
    public nonisolated let changes = ChangeSignal()
    /// Where versions that are GGUF language models go (served on the OpenAI routes); nil: none are served.
    public nonisolated let llms: LLMModels?
    /// The registry revision the served versions reflect (nil before the first sync).
    public var appliedRevision: Int64? { revision }

    /// Loads nothing by itself: the server calls ``sync(force:)`` at start and on every poll.
    public init(registry: any Registry, manager: ModelManager, retryInterval: Duration = .seconds(30),
                trust: ArtifactTrust? = nil, llms: LLMModels? = nil, logger: Logger = Logger(label: "berth.server.registry")) {
        self.llms = llms
        self.registry = registry
        self.trust = trust
        self.manager = manager
        self.retryInterval = retryInterval
        self.logger = logger
    }

    // MARK: Operations

    /// Brings the server in line with the registry if it changed since the last look (or
    /// always, with `force`). Load failures are logged; the versions serving keep serving.
    public func sync(force: Bool = false) async throws {
        try await exclusive { try await self.performSync(force: force) }
    }

    /// Records a pushed artifact (nothing is served until an alias points at it).
    public func push(_ staged: StagedArtifact, _ request: PushRequest) async throws -> VersionRecord {
        try await change { try $0.push(staged, request) }
    }

    /// Promotes a version: it is loaded and warmed first, then the alias moves, then traffic
    /// switches and the previous version drains. A version that fails to load is not promoted.
    public func promote(_ model: String, version: Int, gates: [Gate], alias: String, change: Change) async throws -> RegistryEvent {
        try await exclusive {
            let registry = self.registry
            try await blocking { try registry.checkPromotion(model, version: version, gates: gates, alias: alias) }
            return try await self.staged(model, loading: version) {
                try registry.promote(model, version: version, gates: gates, alias: alias, change: change)
            }
        }
    }

    /// Rolls an alias back one step, loading the earlier version before switching.
    public func rollback(_ model: String, alias: String, change: Change) async throws -> RegistryEvent {
        try await exclusive {
            let registry = self.registry
            let target = try await blocking { try registry.rollbackTarget(model, alias: alias) }
            return try await self.staged(model, loading: target) { try registry.rollback(model, alias: alias, change: change) }
        }
    }

    /// Points an alias at a version (loaded before the alias moves).
    public func setAlias(_ model: String, _ alias: String, version: Int, change: Change) async throws -> RegistryEvent {
        try await exclusive {
            let registry = self.registry
            return try await self.staged(model, loading: version) {
                try registry.setAlias(model, alias, version: version, change: change)
            }
        }
    }

    /// Any other change (remove an alias, delete a version, set the traffic split), then a sync.
    public func change<T: Sendable>(_ body: @escaping @Sendable (any Registry) throws -> T) async throws -> T {
        try await exclusive {
            let registry = self.registry
            let result = try await blocking { try body(registry) }
            try await self.performSync(force: false)
            return result
        }
    }

    // MARK: Internals

    private func exclusive<T: Sendable>(_ op: @escaping @Sendable () async throws -> T) async throws -> T {
        let (task, next) = chained(after: tail, op)
        tail = next
        return try await task.value.get()
    }

    /// Loads `version` beside what serves now (whatever the registry says should serve: a
    /// production that failed to load must not block its replacement), commits the registry
    /// change, then switches. If the load or the commit fails, the extra version is unloaded
    /// again and nothing switched.
    private func staged(_ model: String, loading version: Int, commit: @escaping @Sendable () throws -> RegistryEvent) async throws -> RegistryEvent {
        let registry = self.registry
        let serving = manager.servingVersions(of: model)
        var before = DeployPlan(model: model, versions: [:], route: manager.route(of: model) ?? TrafficRoute(primary: nil))
        for (v, s) in serving { before.versions[v] = source(model, v, s.fingerprint, s.config) }
        // A language model's versions live in the LLM table, not the manager's.
        if let llm = llms?.serving(model) {
            before.route = llm.route
            for (v, fingerprint) in llm.fingerprints { before.versions[v] = source(model, v, fingerprint, ModelConfig()) }
        }
        let record = try await blocking { try registry.version(model, .number(version)) }
        let config = config(record.servingConfig, model: model, version: version)
        if serving[version]?.fingerprint != record.sha256 || serving[version]?.config != config {
            var staging = before
            staging.versions[version] = source(model, version, record.sha256, config)
            do { try await deploy(staging) } catch {
                try? await deploy(before)
                throw error
            }
        }
        let event: RegistryEvent
        do { event = try await blocking(commit) } catch {
            try? await deploy(before)
            throw error
        }
        // The commit changed the revision: the sync switches this model (and only models whose
        // deployment changed).
        try await performSync(force: false)
        return event
    }

    private func performSync(force: Bool) async throws {
        let registry = self.registry
        let now = try await blocking { try registry.revision() }
        let clock = ContinuousClock()
        let retryDue = failedAt.values.contains { clock.now - $0 >= retryInterval }
        if !force, now == revision, !retryDue { return }
        let wanted = try await blocking { try registry.deployments() }
        var seen = Set<String>()
        for d in wanted {
            seen.insert(d.model)
            let retry = failedAt[d.model].map { clock.now - $0 >= retryInterval } ?? false
            guard force || retry || deployed[d.model] != d else { continue }
            do {
                try await deploy(plan(d))
                failedAt[d.model] = nil
                manager.noteLoad(d.model, failure: nil)
            } catch {
                // Strict readiness: a registry model that should serve and serves nothing makes the server not ready.
                manager.noteLoad(d.model, failure: "\(error)")
                logger.error("registry deployment failed; retried in \(retryInterval) or when the registry changes",
                             metadata: ["model": "\(d.model)", "error": "\(error)"])
                failedAt[d.model] = clock.now
            }
            // Recorded even when a load failed: it is retried after retryInterval, not on every poll.
            deployed[d.model] = d
        }
        for name in deployed.keys where !seen.contains(name) {
            try? await deploy(DeployPlan(model: name, versions: [:], route: TrafficRoute(primary: nil)))
            deployed[name] = nil
            failedAt[name] = nil
            manager.noteLoad(name, failure: nil)
        }
        revision = now
    }

    /// A version's artifact, checked against its SHA-256 (and, with `--require-signed`, its
    /// signature) when it is loaded: a failed check fails the load, and what serves keeps serving.
    private nonisolated func source(_ model: String, _ version: Int, _ sha: String, _ config: ModelConfig) -> VersionSource {
        let registry = self.registry, trust = self.trust, copies = self.copies
        return VersionSource(fingerprint: sha, config: config) {
            let (record, url) = try registry.artifact(model, .number(version))
            copies.withLock { $0.append(url) }
            try trust?.check(record)
            return url
        }
    }

    /// Hands `plan` to the manager, then deletes the decrypted copies its loads read.
    private func deploy(_ plan: DeployPlan) async throws {
        defer {
            let done = copies.withLock { c -> [URL] in defer { c.removeAll() }; return c }
            for url in done { registry.store.release(url) }
        }
        // GGUF versions (language models) serve on the OpenAI routes, not through the manager.
        if try await deployLanguageModel(plan) { return }
        try await manager.deploy(plan)
    }

    /// A version's serving configuration (validated when it was pushed; defaults when absent).
    private nonisolated func config(_ node: JSONNode?, model: String, version: Int) -> ModelConfig {
        guard let node else { return ModelConfig() }
        do { return try ModelConfig(json: node.jsonData) } catch {
            logger.error("invalid serving configuration; using defaults",
                         metadata: ["model": "\(model)", "version": "\(version)", "error": "\(error)"])
            return ModelConfig()
        }
    }

    private nonisolated func plan(_ d: Deployment) -> DeployPlan {
        let model = d.model
        var versions: [Int: VersionSource] = [:]
        for (v, sha) in d.versions { versions[v] = source(model, v, sha, config(d.servingConfigs[v], model: model, version: v)) }
        func share(_ s: TrafficPolicy.Split?) -> TrafficRoute.Share? {
            guard let s, let v = s.version, d.versions[v] != nil else { return nil }
            return TrafficRoute.Share(version: v, percent: s.percent)
        }
        return DeployPlan(model: model, versions: versions,
                          route: TrafficRoute(primary: d.production, canary: share(d.traffic.canary), shadow: share(d.traffic.shadow)))
    }
}
