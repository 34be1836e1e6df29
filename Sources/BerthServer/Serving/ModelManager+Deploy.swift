import Foundation

/// Where one version of a deployment comes from.
public struct VersionSource: Sendable {
    /// Identifies the bytes (the artifact's SHA-256): an equal fingerprint is not reloaded.
    public var fingerprint: String
    /// How the version is served.
    public var config: ModelConfig
    /// Returns the model file after checking it (called only when the version is loaded).
    public var locate: @Sendable () throws -> URL

    /// `config` defaults to the server's defaults.
    public init(fingerprint: String, config: ModelConfig = ModelConfig(), locate: @escaping @Sendable () throws -> URL) {
        self.fingerprint = fingerprint
        self.config = config
        self.locate = locate
    }
}

/// What a model should serve: exactly these versions, routed this way.
public struct DeployPlan: Sendable {
    /// The model's name (its V2 name).
    public var model: String
    /// Version → where to load it from; loaded versions not listed are unloaded (empty: all).
    public var versions: [Int: VersionSource]
    /// How requests without a version are routed; its primary must be in `versions` and load.
    public var route: TrafficRoute

    /// A plan for ``ModelManager/deploy(_:)`` to carry out.
    public init(model: String, versions: [Int: VersionSource], route: TrafficRoute) {
        self.model = model
        self.versions = versions
        self.route = route
    }
}

/// A servable chosen by the traffic route, with the shadow copy to mirror the request to.
public struct RoutedServable: Sendable {
    /// The version that answers, acquired for the caller, who releases it when the request is done.
    public let servable: Servable
    /// Which side of the split chose it (a metric label); nil for a repository model (no route).
    public let side: TrafficRoute.Side?
    /// Acquired for the caller; release it when the mirrored request is done.
    public let shadow: Servable?
}

extension ModelManager {
    /// Makes a model serve exactly the plan's versions, TF Serving style: versions not loaded yet
    /// are loaded and warmed while the old ones keep serving; then the route switches in one
    /// step; then versions left out of the plan drain (their running requests finish) and unload.
    /// When the plan's primary version cannot load, nothing switches and the error is thrown; a
    /// canary or shadow that cannot load is left out of the route (and reported).
    public func deploy(_ plan: DeployPlan) async throws {
        try await serialized(plan.model) { try await self.performDeploy(plan) }
    }

    private func performDeploy(_ plan: DeployPlan) async throws {
        let name = plan.model
        if !plan.versions.isEmpty, table.withLock({ $0[name] }) == nil { table.withLock { $0[name] = [:] } }
        var errors: [Int: String] = [:]
        for (v, source) in plan.versions.sorted(by: { $0.key < $1.key }) {
            errors[v] = await loadVersion(name, v, fingerprint: source.fingerprint, config: source.config, url: source.locate)
        }
        func ready(_ v: Int) -> Bool { table.withLock { $0[name]?[v]?.state == .ready } }
        var route = plan.route
        if let p = route.primary, !ready(p) {
            throw ServerError.loadFailed(model: name, reason: "version \(p): \(errors[p] ?? "not ready"); the previous version keeps serving")
        }
        if let c = route.canary, !ready(c.version) { route.canary = nil }
        if let s = route.shadow, !ready(s.version) { route.shadow = nil }
        // The switch: from here on new requests resolve through the new route.
        routes.withLock { $0[name] = plan.versions.isEmpty ? nil : route }
        let leaving = (table.withLock { $0[name] } ?? [:]).filter { plan.versions[$0.key] == nil }
        for (v, slot) in leaving {
            setSlot(name, v, Slot(state: .unloading, servable: nil))
            await retire(slot.servable, name: name, version: v)
            setSlot(name, v, nil)
            logger.info("model version unloaded", metadata: ["model": "\(name)", "version": "\(v)"])
        }
        if plan.versions.isEmpty { table.withLock { $0[name] = nil } }
        if !errors.isEmpty {
            let list = errors.sorted { $0.key < $1.key }.map { "version \($0.key): \($0.value)" }.joined(separator: "; ")
            throw ServerError.loadFailed(model: name, reason: list)
        }
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
