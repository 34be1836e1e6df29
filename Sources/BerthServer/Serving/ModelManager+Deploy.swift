import BerthONNX
import Foundation

/// Where one version of a deployment comes from.
public struct VersionSource: Sendable {
    /// Identifies the bytes (the artifact's SHA-256): an equal fingerprint is not reloaded.
    public var fingerprint: String
    /// How the version is served.
    public var config: ModelConfig
    /// Returns the model file after checking it (called only when the version is loaded).
    public var locate: @Sendable () throws -> URL
    /// Builds the model instead of reading `locate`'s file (an ensemble's composed graph).
    public var compose: (@Sendable () throws -> Model)?

    /// `config` defaults to the server's defaults.
    public init(fingerprint: String, config: ModelConfig = ModelConfig(), locate: @escaping @Sendable () throws -> URL,
                compose: (@Sendable () throws -> Model)? = nil) {
        self.fingerprint = fingerprint
        self.config = config
        self.locate = locate
        self.compose = compose
    }
}

/// What a model should serve: exactly these versions, routed this way. Sources (the
/// ``RepositorySource``, the ``RegistryDeployer``) make plans; ``ModelManager/deploy(_:)``
/// carries them out.
public struct DeployPlan: Sendable {
    /// The model's name (its V2 name).
    public var model: String
    /// Version → where to load it from; loaded versions not listed are unloaded (empty: all).
    public var versions: [Int: VersionSource]
    /// How requests without a version are routed; its primary must be in `versions` and load.
    /// nil (a repository model): the highest ready version answers, and every version of the
    /// plan must load before anything is unloaded.
    public var route: TrafficRoute?
    /// Versions left out of `versions` that stay listed in the index as UNAVAILABLE with this
    /// reason (a repository's versions the version policy does not serve); other versions left
    /// out are forgotten. A model whose plan has neither versions nor unserved ones is dropped.
    public var unserved: [Int: String]

    /// A plan for ``ModelManager/deploy(_:)`` to carry out.
    public init(model: String, versions: [Int: VersionSource], route: TrafficRoute?, unserved: [Int: String] = [:]) {
        self.model = model
        self.versions = versions
        self.route = route
        self.unserved = unserved
    }
}

/// A servable chosen by the traffic route, with the shadow copy to mirror the request to.
public struct RoutedServable: Sendable {
    /// The version that answers, acquired for the caller, who releases it when the request is done.
    public let servable: Servable
    /// Which side of the split chose it (a metric label); nil for a repository model (no route).
    public let side: TrafficRoute.Side?
    /// The shadow to mirror to, acquired for the caller, who releases it when the request is done
    /// (the mirrored run takes a hold of its own).
    public let shadow: Servable?
}

extension ModelManager {
    /// Makes a model serve exactly the plan's versions, TF Serving style: versions not loaded yet
    /// are loaded and warmed while the old ones keep serving; then the route switches in one
    /// step; then versions left out of the plan drain (their running requests finish) and unload.
    /// When the plan's primary version (without a route: any version of the plan) cannot load,
    /// nothing switches or unloads and the error is thrown; a canary or shadow that cannot load
    /// is left out of the route (and reported).
    public func deploy(_ plan: DeployPlan) async throws {
        try await serialized(plan.model) { try await self.performDeploy(plan) }
    }

    private func performDeploy(_ plan: DeployPlan) async throws {
        let name = plan.model
        if !plan.versions.isEmpty { track(name) }
        var errors: [Int: String] = [:]
        for (v, source) in plan.versions.sorted(by: { $0.key < $1.key }) {
            errors[v] = await loadVersion(name, v, fingerprint: source.fingerprint, config: source.config, url: source.locate,
                                          compose: source.compose)
        }
        func ready(_ v: Int) -> Bool { table.withLock { $0[name]?[v]?.state == .ready } }
        func failure() -> ServerError {
            let list = errors.sorted { $0.key < $1.key }.map { "version \($0.key): \($0.value)" }.joined(separator: "; ")
            return ServerError.loadFailed(model: name, reason: list)
        }
        var route = plan.route
        if var r = route {
            if let p = r.primary, !ready(p) {
                throw ServerError.loadFailed(model: name, reason: "version \(p): \(errors[p] ?? "not ready"); the previous version keeps serving")
            }
            if let c = r.canary, !ready(c.version) { r.canary = nil }
            if let s = r.shadow, !ready(s.version) { r.shadow = nil }
            route = r
        } else if !errors.isEmpty {
            // Without a route every version of the plan is wanted: what serves now keeps serving.
            throw failure()
        }
        // The switch: from here on new requests resolve through the new route.
        routes.withLock { $0[name] = plan.versions.isEmpty ? nil : route }
        let leaving = (table.withLock { $0[name] } ?? [:]).filter { plan.versions[$0.key] == nil }
        for (v, slot) in leaving {
            let reason = plan.unserved[v]
            if slot.state == .ready, let s = slot.servable {
                setSlot(name, v, Slot(state: .unloading, servable: nil))
                await retire(s, name: name, version: v)
                setSlot(name, v, reason.map { Slot(state: .unavailable, reason: $0) })
                logger.info("model version unloaded", metadata: ["model": "\(name)", "version": "\(v)"])
            } else if reason == nil {
                // A version that failed or was unloaded before, now gone from the plan's source.
                setSlot(name, v, nil)
                metrics.removeSeries(model: name, version: String(v))
            }
        }
        if plan.versions.isEmpty, plan.unserved.isEmpty {
            table.withLock { $0[name] = nil }
            routes.withLock { $0[name] = nil }
        }
        if !errors.isEmpty { throw failure() }
    }

    /// The ready versions of a model (fingerprint and configuration they were loaded with).
    public nonisolated func servingVersions(of model: String) -> [Int: Servable] {
        var out: [Int: Servable] = [:]
        let slots: [Int: Slot] = table.withLock { $0[model] } ?? [:]
        for (v, slot) in slots where slot.state == .ready {
            if let s = slot.servable { out[v] = s }
        }
        return out
    }

    /// The current route of a registry model (nil for repository models).
    public nonisolated func route(of model: String) -> TrafficRoute? { routes.withLock { $0[model] } }

    /// Acquires the servable that answers a request without a version: the route's choice for
    /// registry models (sticky by `key`), the highest ready version otherwise. A route that
    /// switches between the lookup and the acquisition is looked up again.
    public nonisolated func acquireRouted(model: String, key: String?) throws -> RoutedServable {
        for _ in 0..<100 {
            guard let route = routes.withLock({ $0[model] }) else {
                return RoutedServable(servable: try acquire(model: model, version: nil), side: nil, shadow: nil)
            }
            guard let pick = route.pick(key: key) else { throw ServerError.noProduction(model: model) }
            let servable: Servable
            do { servable = try acquire(model: model, version: String(pick.version)) } catch {
                if routes.withLock({ $0[model] }) != route { continue }
                throw error
            }
            var shadow: Servable?
            if let sv = route.mirror(key: key) { shadow = try? acquire(model: model, version: String(sv)) }
            return RoutedServable(servable: servable, side: pick.side, shadow: shadow)
        }
        throw ServerError.notReady(model: model, version: nil, state: "the route keeps changing")
    }
}
