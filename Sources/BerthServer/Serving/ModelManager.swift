import BerthEngine
import BerthONNX
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
/// serving. What should serve comes from sources as ``DeployPlan``s (``deploy(_:)``): the
/// ``RepositorySource`` for a model repository, the ``RegistryDeployer`` for a registry; the
/// manager alone loads, warms, switches and drains. Operations on one model are serialized; the
/// request path reads the serving table without entering the actor.
public actor ModelManager {
    struct Slot: Sendable {
        var state: ModelState
        var servable: Servable?
        var reason: String = ""
    }

    /// The repository whose models the index lists (its ``RepositorySource`` decides what loads);
    /// nil when a registry deploys the models.
    public nonisolated let repository: ModelRepository?
    /// Where batchers report.
    public nonisolated let metrics: ServerMetrics
    nonisolated let defaultThreads: Int
    nonisolated let logger: Logger
    nonisolated let table = Locked<[String: [Int: Slot]]>([:])
    /// Registry-deployed models: how requests without a version are routed.
    nonisolated let routes = Locked<[String: TrafficRoute]>([:])
    private nonisolated let flags = Locked<(started: Bool, stopping: Bool)>((false, false))
    /// Triton's strict readiness: the server is not ready while a model that should serve failed.
    nonisolated let strictReadiness: Bool
    /// Model → why its latest load failed; cleared by a successful load or an unload.
    nonisolated let loadFailures = Locked<[String: String]>([:])

    private var chains: [String: Task<Void, Never>] = [:]

    /// - Parameters:
    ///   - defaultThreads: intra-op threads for models whose config sets none.
    ///   - strictReadiness: Triton's `--strict-readiness`: the server reports not ready while any
    ///     model that should serve failed to load (and has no older version serving).
    public init(repository: ModelRepository?, metrics: ServerMetrics = ServerMetrics(), defaultThreads: Int = 1,
                strictReadiness: Bool = true, logger: Logger = Logger(label: "berth.server.models")) {
        self.repository = repository
        self.strictReadiness = strictReadiness
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

    /// True once the startup loading finished and until shutdown begins; with strict readiness,
    /// also only while no model that should serve failed to load (``failedModels()``).
    public nonisolated var isReady: Bool {
        guard flags.withLock({ $0.started && !$0.stopping }) else { return false }
        return !strictReadiness || failedModels().isEmpty
    }

    /// Models whose latest load failed and that have no ready version, with the reason (a model
    /// whose reload failed while an older version keeps serving is ready, as in Triton).
    public nonisolated func failedModels() -> [String: String] {
        loadFailures.withLock { $0 }.filter { servingVersions(of: $0.key).isEmpty }
    }

    /// Records the outcome of a source's attempt to load `model` (nil: it loaded, or it was
    /// unloaded on purpose).
    nonisolated func noteLoad(_ model: String, failure: String?) {
        loadFailures.withLock { $0[model] = failure }
    }

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
                // A model that failed before any version was tried (its config) says why.
                let failure = loadFailures.withLock { $0[name] }
                out.append(ModelIndexEntry(name: name, version: nil, state: failure == nil ? nil : .unavailable, reason: failure ?? ""))
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

    /// Stops the server's readiness, then drains and unloads every model (they stay listed, as
    /// UNAVAILABLE).
    public func shutdown() async {
        flags.withLock { $0.stopping = true }
        for name in table.withLock({ Array($0.keys) }) {
            try? await deploy(unloading: name)
        }
    }

    /// Drains and unloads every version of a model; the versions stay listed as UNAVAILABLE.
    func deploy(unloading name: String) async throws {
        let versions = table.withLock { $0[name].map { Array($0.keys) } } ?? []
        try await deploy(DeployPlan(model: name, versions: [:], route: nil,
                                    unserved: Dictionary(uniqueKeysWithValues: versions.map { ($0, "unloaded") })))
    }

    /// The models in the serving table, and the version numbers it lists for one.
    nonisolated func modelNames() -> [String] { table.withLock { Array($0.keys) } }
    nonisolated func listedVersions(of model: String) -> [Int]? { table.withLock { $0[model].map { Array($0.keys) } } }

    /// Lists a model without versions, so that requests for a repository model whose load failed
    /// before any version was tried get 503 with its state rather than 404.
    nonisolated func track(_ name: String) {
        table.withLock { t in if t[name] == nil { t[name] = [:] } }
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

    /// Loads one version unless a servable from the same files and config is already ready. The
    /// slot shows LOADING meanwhile (unless an older copy keeps serving); the new servable takes
    /// the slot once warmed and the older copy drains (the version's metric series carry on).
    /// Returns why the load failed, nil when the version is ready.
    func loadVersion(_ name: String, _ v: Int, fingerprint: String, config: ModelConfig,
                     url: () throws -> URL, compose: (@Sendable () throws -> Model)? = nil) async -> String? {
        let current = table.withLock { $0[name]?[v] }
        if let s = current?.servable, current?.state == .ready, s.fingerprint == fingerprint, s.config == config { return nil }
        if current?.state != .ready { setSlot(name, v, Slot(state: .loading)) }
        logger.info("loading model", metadata: ["model": "\(name)", "version": "\(v)"])
        do {
            let servable = try await makeServable(name, v, url: compose == nil ? try url() : nil, compose: compose, config: config,
                                                  fingerprint: fingerprint)
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

    /// Takes a version out of service after it left the serving table: waits for the requests
    /// holding it, stops its batcher, then removes its metric series (after the last request
    /// recorded, so none comes back).
    func retire(_ servable: Servable?, name: String, version: Int) async {
        if let servable { await servable.drain() }
        metrics.removeSeries(model: name, version: String(version))
    }

    private nonisolated func makeServable(_ name: String, _ version: Int, url: URL?, compose: (@Sendable () throws -> Model)?,
                                          config: ModelConfig, fingerprint: String) async throws -> Servable {
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
                    let options = SessionOptions(intraOpThreads: threads, logger: engineLogger)
                    let session: Session
                    if let compose { session = try Session(model: try compose(), options: options) } else {
                        session = try Session(contentsOf: url!, options: options)
                    }
                    let batched = (config.maxBatchSize ?? Servable.defaultMaxBatchSize(session)) > 0
                    try Servable.check(config, against: session, batched: batched)
                    // A version is ready only after its warm-up ran (by default one random sample).
                    try Servable.warmUp(session, config: config, batched: batched)
                    // A label file in config.pbtxt wins over what the model file names.
                    let labels = Servable.modelLabels(session.model).merging(try Servable.readLabels(config)) { _, file in file }
                    return Servable(model: name, version: version, session: session, config: config,
                                    fingerprint: fingerprint, metrics: metrics, logger: log, labels: labels)
                })
            }
        }
    }
}
