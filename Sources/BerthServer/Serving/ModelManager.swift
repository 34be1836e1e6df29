import BerthEngine
import Foundation
import Logging

/// The life-cycle state of one model version, as the repository index reports it.
public enum ModelState: String, Sendable {
    case loading = "LOADING"
    case ready = "READY"
    case unloading = "UNLOADING"
    case unavailable = "UNAVAILABLE"
}

/// One row of the repository index.
public struct ModelIndexEntry: Sendable, Equatable {
    public var name: String
    /// nil for a model that was never loaded.
    public var version: Int?
    public var state: ModelState?
    public var reason: String
}

/// Moves model versions between states (loading → ready → unloading), TF Serving style: a new
/// version becomes ready only after it loaded and ran one warm-up inference; then the serving
/// table switches to it and the old version drains. A failed load leaves the previous versions
/// serving. Operations on one model are serialized; the request path reads the serving table
/// without entering the actor.
public actor ModelManager {
    struct Slot: Sendable {
        var state: ModelState
        var servable: Servable?
        var reason: String = ""
    }

    /// Where models are read from; nil when a registry deploys them (``deploy(_:)``).
    public nonisolated let repository: ModelRepository?
    /// Where batchers report.
    public nonisolated let metrics: ServerMetrics
    nonisolated let defaultThreads: Int
    nonisolated let logger: Logger
    nonisolated let table = Locked<[String: [Int: Slot]]>([:])
    /// Registry-deployed models: how requests without a version are routed.
    nonisolated let routes = Locked<[String: TrafficRoute]>([:])
    private nonisolated let flags = Locked<(started: Bool, stopping: Bool)>((false, false))

    private var chains: [String: Task<Void, Never>] = [:]
    private var failedFingerprints: [String: String] = [:]
    private var lastSeen: [String: String] = [:]

    /// - Parameter defaultThreads: intra-op threads for models whose config sets none.
    public init(repository: ModelRepository?, metrics: ServerMetrics = ServerMetrics(), defaultThreads: Int = 1,
                logger: Logger = Logger(label: "berth.server.models")) {
        self.repository = repository
        self.metrics = metrics
        self.defaultThreads = max(1, defaultThreads)
        self.logger = logger
    }

    // MARK: Request path (no actor hop)

    /// The servable for `model` and optional `version` (default: the production version of a
    /// registry model, else the highest ready version). Throws 404 for unknown names and 503 for
    /// versions that exist but are not ready.
    public nonisolated func servable(model: String, version: String?) throws -> Servable {
        guard let slots = table.withLock({ $0[model] }) else { throw ServerError.modelNotFound(model) }
        if version == nil || version!.isEmpty, let route = routes.withLock({ $0[model] }) {
            guard let primary = route.primary else { throw ServerError.noProduction(model: model) }
            return try servable(model: model, version: String(primary))
        }
        if let version, !version.isEmpty {
            guard let v = Int(version), let slot = slots[v] else {
                if routes.withLock({ $0[model] }) != nil { throw ServerError.versionNotDeployed(model: model, version: version) }
                throw ServerError.versionNotFound(model: model, version: version)
            }
            guard slot.state == .ready, let s = slot.servable else {
                throw ServerError.notReady(model: model, version: version, state: Self.describe(slot))
            }
            return s
        }
        var best: Servable?
        for (_, slot) in slots where slot.state == .ready {
            if let s = slot.servable, s.version > (best?.version ?? Int.min) { best = s }
        }
        if let best { return best }
        let states = slots.sorted { $0.key < $1.key }.map { "version \($0.key): \(Self.describe($0.value))" }
        throw ServerError.notReady(model: model, version: nil, state: states.isEmpty ? "no versions" : states.joined(separator: "; "))
    }

    /// Like ``servable(model:version:)``, but also registers the caller as a request holding the
    /// servable: an unload waits for it until ``Servable/release()``. A servable that began
    /// draining between the lookup and the registration was already replaced in the serving
    /// table, so the lookup is repeated.
    public nonisolated func acquire(model: String, version: String?) throws -> Servable {
        for _ in 0..<100 {
            let s = try servable(model: model, version: version)
            if s.acquire() { return s }
        }
        throw ServerError.notReady(model: model, version: version, state: "unloading")
    }

    /// The ready version numbers of a model, ascending (404 when the model is unknown).
    public nonisolated func readyVersions(model: String) throws -> [Int] {
        guard let slots = table.withLock({ $0[model] }) else { throw ServerError.modelNotFound(model) }
        return slots.filter { $0.value.state == .ready }.map(\.key).sorted()
    }

    /// True once the startup loading finished and until shutdown begins.
    public nonisolated var isReady: Bool { flags.withLock { $0.started && !$0.stopping } }

    /// Marks startup complete (the server reports ready from now on).
    public nonisolated func markStarted() { flags.withLock { $0.started = true } }

    /// Every model of the repository and every version the manager knows, with its state.
    public nonisolated func index() -> [ModelIndexEntry] {
        let snapshot = table.withLock { $0 }
        var names = Set(repository?.modelNames() ?? [])
        names.formUnion(snapshot.keys)
        var out: [ModelIndexEntry] = []
        for name in names.sorted() {
            guard let slots = snapshot[name], !slots.isEmpty else {
                out.append(ModelIndexEntry(name: name, version: nil, state: nil, reason: ""))
                continue
            }
            for (v, slot) in slots.sorted(by: { $0.key < $1.key }) {
                out.append(ModelIndexEntry(name: name, version: v, state: slot.state, reason: slot.reason))
            }
        }
        return out
    }

    static func describe(_ slot: Slot) -> String {
        slot.reason.isEmpty ? slot.state.rawValue.lowercased() : "\(slot.state.rawValue.lowercased()): \(slot.reason)"
    }

    // MARK: Operations

    /// Loads (or reloads) a model from the repository according to its version policy. Versions
    /// already loaded from identical files are kept; versions the policy drops are drained and
    /// unloaded, unless some wanted version failed, in which case everything serving stays.
    public func load(_ name: String) async throws {
        try await serialized(name) { try await self.performLoad(name, candidates: nil) }
    }

    /// Drains and unloads every version of a model.
    public func unload(_ name: String) async throws {
        try await serialized(name) { try await self.performUnload(name, forget: false) }
    }

    /// Loads every model of the repository; failures are logged, not thrown.
    public func loadAll() async {
        await withTaskGroup(of: Void.self) { group in
            for name in repository?.modelNames() ?? [] {
                group.addTask {
                    do { try await self.load(name) } catch {
                        self.logger.error("model failed to load", metadata: ["model": "\(name)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    /// One pass of `--model-control poll`: loads versions whose files were unchanged since the
    /// previous pass (never a half-copied file), reloads changed ones, unloads removed ones.
    public func poll() async {
        guard let repository else { return }
        let names = repository.modelNames()
        var seen: [String: String] = [:]
        for name in names {
            var stable: [Int: String] = [:]
            for v in repository.versions(of: name) {
                let key = "\(name)/\(v)"
                let fp = repository.fingerprint(model: name, version: v)
                seen[key] = fp
                if lastSeen[key] == fp, failedFingerprints[key] != fp { stable[v] = fp }
            }
            let slots = table.withLock { $0[name] } ?? [:]
            let onDisk = Set(repository.versions(of: name))
            guard let config = try? repository.config(of: name) else {
                continue  // an invalid config.json: keep whatever serves until it is fixed
            }
            let wanted = config.versionPolicy.select(Array(stable.keys))
            var needs = false
            for v in wanted {
                let s = slots[v]
                if s?.state != .ready || s?.servable?.fingerprint != stable[v] || s?.servable?.config != config { needs = true }
            }
            for (v, slot) in slots where slot.state == .ready && !wanted.contains(v) {
                // A ready version that is no longer wanted: gone from disk, or superseded by a stable one.
                if !onDisk.contains(v) || !wanted.isEmpty { needs = true }
            }
            guard needs else { continue }
            if wanted.isEmpty {
                if onDisk.isEmpty { try? await serialized(name) { try await self.performUnload(name, forget: false) } }
                continue
            }
            let candidates = stable
            do {
                try await serialized(name) { try await self.performLoad(name, candidates: candidates) }
            } catch {
                logger.error("poll: model failed to load; previous versions keep serving",
                             metadata: ["model": "\(name)", "error": "\(error)"])
            }
        }
        let present = Set(names)
        for name in table.withLock({ Array($0.keys) }) where !present.contains(name) {
            try? await serialized(name) { try await self.performUnload(name, forget: true) }
        }
        lastSeen = seen
    }

    /// Stops the server's readiness, then drains and unloads every model.
    public func shutdown() async {
        flags.withLock { $0.stopping = true }
        for name in table.withLock({ Array($0.keys) }) {
            try? await serialized(name) { try await self.performUnload(name, forget: false) }
        }
    }

    // MARK: Internals

    func serialized(_ name: String, _ op: @escaping @Sendable () async throws -> Void) async throws {
        let (task, tail) = chained(after: chains[name], op)
        chains[name] = tail
        let result = await task.value
        // Nothing queued behind this operation: forget the chain, so that names clients make up
        // (load requests for unknown models) do not accumulate.
        if chains[name] == tail { chains[name] = nil }
        try result.get()
    }

    /// Models with an operation queued or running (tests check that finished ones are forgotten).
    var operationChainCount: Int { chains.count }

    func setSlot(_ name: String, _ version: Int, _ slot: Slot?) {
        table.withLock { t in
            var slots = t[name] ?? [:]
            slots[version] = slot
            t[name] = slots
        }
    }

    private func performLoad(_ name: String, candidates: [Int: String]?) async throws {
        guard let repository else { throw ServerError.notAllowed("models are deployed from the registry: promote or alias a version instead") }
        guard repository.contains(model: name) else { throw ServerError.modelNotFound(name) }
        if table.withLock({ $0[name] }) == nil { table.withLock { $0[name] = [:] } }
        let config: ModelConfig
        do { config = try repository.config(of: name) } catch {
            logger.error("invalid model config", metadata: ["model": "\(name)", "error": "\(error)"])
            throw error
        }
        var available: [Int: String] = candidates ?? [:]
        if candidates == nil {
            for v in repository.versions(of: name) { available[v] = repository.fingerprint(model: name, version: v) }
        }
        let wanted = config.versionPolicy.select(Array(available.keys))
        guard !wanted.isEmpty else {
            throw ServerError.loadFailed(model: name, reason: "no version folder holds \(ModelRepository.modelFileName) "
                                         + "(expected \(name)/<version>/\(ModelRepository.modelFileName))")
        }
        var errors: [String] = []
        for v in wanted {
            let fp = available[v]!
            if let why = await loadVersion(name, v, fingerprint: fp, config: config, url: { repository.modelFile(model: name, version: v) }) {
                errors.append("version \(v): \(why)")
                failedFingerprints["\(name)/\(v)"] = fp
            } else {
                failedFingerprints["\(name)/\(v)"] = nil
            }
        }
        if !errors.isEmpty { throw ServerError.loadFailed(model: name, reason: errors.joined(separator: "; ")) }
        // Every wanted version serves: drain and drop the others.
        let others = (table.withLock { $0[name] } ?? [:]).filter { !wanted.contains($0.key) }
        for (v, slot) in others {
            guard let s = slot.servable, slot.state == .ready else {
                if !available.keys.contains(v) {
                    setSlot(name, v, nil)
                    metrics.removeSeries(model: name, version: String(v))
                }
                continue
            }
            setSlot(name, v, Slot(state: .unloading, servable: nil))
            await retire(s, name: name, version: v)
            setSlot(name, v, available.keys.contains(v) ? Slot(state: .unavailable, reason: "unloaded by version policy") : nil)
            logger.info("model version unloaded", metadata: ["model": "\(name)", "version": "\(v)"])
        }
    }

    /// Loads one version unless a servable from the same files and config is already ready. The
    /// slot shows LOADING meanwhile (unless an older copy keeps serving); the new servable takes
    /// the slot once warmed and the older copy drains (the version's metric series carry on).
    /// Returns why the load failed, nil when the version is ready.
    func loadVersion(_ name: String, _ v: Int, fingerprint: String, config: ModelConfig,
                     url: () throws -> URL) async -> String? {
        let current = table.withLock { $0[name]?[v] }
        if let s = current?.servable, current?.state == .ready, s.fingerprint == fingerprint, s.config == config { return nil }
        if current?.state != .ready { setSlot(name, v, Slot(state: .loading)) }
        logger.info("loading model", metadata: ["model": "\(name)", "version": "\(v)"])
        do {
            let servable = try await makeServable(name, v, url: try url(), config: config, fingerprint: fingerprint)
            setSlot(name, v, Slot(state: .ready, servable: servable))
            logger.info("model ready", metadata: ["model": "\(name)", "version": "\(v)", "max_batch_size": "\(servable.maxBatchSize)"])
            if let old = current?.servable, current?.state == .ready { await old.drain() }
            return nil
        } catch {
            let why = (error as? ServerError)?.description ?? (error as? EngineError)?.description ?? "\(error)"
            if current?.state != .ready { setSlot(name, v, Slot(state: .unavailable, reason: why)) }
            logger.error("model version failed to load", metadata: ["model": "\(name)", "version": "\(v)", "error": "\(why)"])
            return why
        }
    }

    private func performUnload(_ name: String, forget: Bool) async throws {
        guard let slots = table.withLock({ $0[name] }) else {
            if repository?.contains(model: name) == true { return }
            throw ServerError.modelNotFound(name)
        }
        for (v, slot) in slots {
            setSlot(name, v, Slot(state: .unloading, servable: nil))
            await retire(slot.servable, name: name, version: v)
            setSlot(name, v, Slot(state: .unavailable, reason: "unloaded"))
        }
        if forget {
            table.withLock { $0[name] = nil }
            routes.withLock { $0[name] = nil }
        }
        logger.info("model unloaded", metadata: ["model": "\(name)"])
    }

    /// Takes a version out of service after it left the serving table: waits for the requests
    /// holding it, stops its batcher, then removes its metric series (after the last request
    /// recorded, so none comes back).
    func retire(_ servable: Servable?, name: String, version: Int) async {
        if let servable { await servable.drain() }
        metrics.removeSeries(model: name, version: String(version))
    }

    private nonisolated func makeServable(_ name: String, _ version: Int, url: URL, config: ModelConfig, fingerprint: String) async throws -> Servable {
        let threads = config.threads ?? defaultThreads
        let metrics = self.metrics
        var logger = self.logger
        logger[metadataKey: "model"] = "\(name)"
        logger[metadataKey: "version"] = "\(version)"
        let log = logger
        return try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                c.resume(with: Result {
                    var engineLogger = log
                    engineLogger.logLevel = max(log.logLevel, .notice)
                    let session = try Session(contentsOf: url, options: SessionOptions(intraOpThreads: threads, logger: engineLogger))
                    // A version is ready only after one successful inference.
                    _ = try session.run(try session.sampleInputs(batch: 1))
                    return Servable(model: name, version: version, session: session, config: config,
                                    fingerprint: fingerprint, metrics: metrics, logger: log)
                })
            }
        }
    }
}
