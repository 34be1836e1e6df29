import BerthONNX
import Foundation
import Logging

/// A model repository as a source of deploy plans (TF Serving's Source): it decides which
/// versions of which models should be live — the version policy of each model's config over
/// its version folders — and hands each ``DeployPlan`` to the ``ModelManager``, which alone
/// loads, warms, switches and drains. With `--model-control poll` it also follows the files:
/// a version is offered only once its files were unchanged between two looks (never a
/// half-copied model), and files that failed to load are not offered again until they change.
public actor RepositorySource {
    /// The repository read.
    public nonisolated let repository: ModelRepository
    /// The manager the plans go to.
    public nonisolated let manager: ModelManager
    private nonisolated let logger: Logger
    /// `model/version` → fingerprint of files that failed to load (not retried until they change).
    private var failedFingerprints: [String: String] = [:]
    /// `model/version` → fingerprint at the previous poll.
    private var lastSeen: [String: String] = [:]

    /// Loads nothing by itself: call ``load(_:)``, ``loadAll()`` or ``poll()``.
    public init(repository: ModelRepository, manager: ModelManager, logger: Logger = Logger(label: "berth.server.repository")) {
        self.repository = repository
        self.manager = manager
        self.logger = logger
    }

    /// Loads (or reloads) a model according to its version policy. Versions already loaded from
    /// identical files are kept; versions the policy drops are drained and unloaded, unless some
    /// wanted version failed, in which case everything serving stays.
    public func load(_ name: String) async throws {
        try await deploy(name, candidates: nil)
    }

    /// Drains and unloads every version of a model (it stays listed, its versions UNAVAILABLE).
    public func unload(_ name: String) async throws {
        guard manager.listedVersions(of: name) != nil else {
            if repository.contains(model: name) { return }
            throw ServerError.modelNotFound(name)
        }
        try await manager.deploy(unloading: name)
        manager.noteLoad(name, failure: nil)
        logger.info("model unloaded", metadata: ["model": "\(name)"])
    }

    /// Loads every model of the repository; failures are logged, not thrown.
    public func loadAll() async {
        await withTaskGroup(of: Void.self) { group in
            for name in repository.modelNames() {
                group.addTask {
                    do { try await self.load(name) } catch {
                        self.logger.error("model failed to load", metadata: ["model": "\(name)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    /// One pass of `--model-control poll`: loads versions whose files were unchanged since the
    /// previous pass, reloads changed ones, unloads removed ones.
    public func poll() async {
        let names = repository.modelNames()
        var seen: [String: String] = [:]
        for name in names {
            var stable: [Int: String] = [:]
            let onDisk = repository.versions(of: name)
            for v in onDisk {
                let key = "\(name)/\(v)"
                let fp = repository.fingerprint(model: name, version: v)
                seen[key] = fp
                if lastSeen[key] == fp, failedFingerprints[key] != fp { stable[v] = fp }
            }
            guard let config = try? repository.config(of: name) else {
                continue  // an invalid config.json: keep whatever serves until it is fixed
            }
            let serving = manager.servingVersions(of: name)
            let wanted = config.versionPolicy.select(Array(stable.keys))
            var needs = wanted.contains { v in serving[v]?.fingerprint != stable[v] || serving[v]?.config != config }
            // A ready version that is no longer wanted: gone from disk, or superseded by a stable one.
            needs = needs || serving.keys.contains { v in !wanted.contains(v) && (!onDisk.contains(v) || !wanted.isEmpty) }
            guard needs else { continue }
            if wanted.isEmpty {
                if onDisk.isEmpty {
                    try? await manager.deploy(unloading: name)
                    manager.noteLoad(name, failure: nil)
                }
                continue
            }
            do { try await deploy(name, candidates: stable) } catch {
                logger.error("poll: model failed to load; previous versions keep serving",
                             metadata: ["model": "\(name)", "error": "\(error)"])
            }
        }
        let present = Set(names)
        for name in manager.modelNames() where !present.contains(name) {
            try? await manager.deploy(DeployPlan(model: name, versions: [:], route: nil))
            manager.noteLoad(name, failure: nil)
            logger.info("model removed from the repository; unloaded", metadata: ["model": "\(name)"])
        }
        lastSeen = seen
    }

    /// The plan for one model — the version policy over `candidates` (version → fingerprint;
    /// nil: every version on disk) — carried out by the manager; records which files failed.
    private func deploy(_ name: String, candidates: [Int: String]?) async throws {
        let repository = self.repository
        guard repository.contains(model: name) else { throw ServerError.modelNotFound(name) }
        manager.track(name)
        do {
            try await deployPlan(name, candidates: candidates)
            manager.noteLoad(name, failure: nil)
        } catch {
            manager.noteLoad(name, failure: (error as? ServerError)?.description ?? "\(error)")
            throw error
        }
    }

    private func deployPlan(_ name: String, candidates: [Int: String]?) async throws {
        let repository = self.repository
        let config: ModelConfig
        do { config = try repository.config(of: name) } catch {
            logger.error("invalid model config", metadata: ["model": "\(name)", "error": "\(error)"])
            throw error
        }
        let onDisk = repository.versions(of: name)
        let available = candidates ?? Dictionary(uniqueKeysWithValues: onDisk.map { ($0, repository.fingerprint(model: name, version: $0)) })
        let wanted = config.versionPolicy.select(Array(available.keys))
        guard !wanted.isEmpty else {
            throw ServerError.loadFailed(model: name, reason: "no version folder holds \(ModelRepository.modelFileName) "
                                         + "(expected \(name)/<version>/\(ModelRepository.modelFileName))")
        }
        if !config.ignoredFields.isEmpty {
            // One warning per model and load: what the config sets that Berth does not act on.
            logger.warning("config fields Berth does not honour (ignored)",
                           metadata: ["model": "\(name)", "fields": "\(config.ignoredFields.joined(separator: ", "))"])
        }
        var plan = DeployPlan(model: name, versions: [:], route: nil)
        let compose: (@Sendable () throws -> Model)? = config.ensemble == nil ? nil : { @Sendable in
            try EnsembleComposer(repository: repository).compose(name, config: config)
        }
        for v in wanted {
            plan.versions[v] = VersionSource(fingerprint: available[v]!, config: config, locate: {
                repository.modelFile(model: name, version: v)
            }, compose: compose)
        }
        for v in available.keys where !wanted.contains(v) { plan.unserved[v] = "unloaded by version policy" }
        defer {
            let serving = manager.servingVersions(of: name)
            for v in wanted {
                let fp = available[v]!
                failedFingerprints["\(name)/\(v)"] = serving[v]?.fingerprint == fp ? nil : fp
            }
        }
        try await manager.deploy(plan)
    }
}
