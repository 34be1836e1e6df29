import Foundation

extension LLMModels {
    /// A registry language model as it serves now: its route and each loaded version's fingerprint
    /// (the ``RegistryDeployer`` keeps these loaded while it stages a new version beside them).
    func serving(_ model: String) -> (route: TrafficRoute, fingerprints: [Int: String])? {
        registered.withLock { $0[model] }.map { ($0.route, $0.versions.mapValues(\.fingerprint)) }
    }

    /// Makes a registry language model serve exactly the plan's versions, as ``ModelManager``
    /// does for ONNX models: new versions load beside the serving ones (within
    /// `--llm-memory-budget`), the route switches in one step, then the versions left out drain
    /// in the background — their running sequences finish, so a promote or rollback never cuts
    /// a stream — and are released. If the route's primary cannot load nothing switches; a canary
    /// or shadow that cannot load is left out of the route. Calls for one model must not overlap
    /// (the deployer runs one operation at a time).
    func deploy(_ plan: DeployPlan) async throws {
        let name = plan.model
        let current = registered.withLock { $0[name] }
        var versions: [Int: LLMServable] = [:]
        var errors: [Int: String] = [:]
        for (v, source) in plan.versions.sorted(by: { $0.key < $1.key }) {
            if let s = current?.versions[v], s.fingerprint == source.fingerprint {
                versions[v] = s
                continue
            }
            do { versions[v] = try await load(name, v, source) } catch {
                errors[v] = (error as? ServerError).map { "\($0)" } ?? "\(error)"
                logger.error("language model version failed to load", metadata: ["model": "\(name)", "version": "\(v)", "error": "\(errors[v]!)"])
            }
        }
        var route = plan.route ?? TrafficRoute(primary: plan.versions.keys.max())
        if let p = route.primary, versions[p] == nil {
            // Nothing switches: what was loaded for this plan alone is released again.
            for (v, s) in versions where current?.versions[v] !== s { retire(s) }
            throw ServerError.loadFailed(model: name, reason: "version \(p): \(errors[p] ?? "not loaded"); the previous version keeps serving")
        }
        if let c = route.canary, versions[c.version] == nil { route.canary = nil }
        if let s = route.shadow, versions[s.version] == nil { route.shadow = nil }
        // The switch: new requests resolve through the new table from here on.
        registered.withLock { $0[name] = versions.isEmpty ? nil : Registered(versions: versions, route: route) }
        for (v, s) in current?.versions ?? [:] where versions[v] !== s { retire(s) }
        if !errors.isEmpty {
            let list = errors.sorted { $0.key < $1.key }.map { "version \($0.key): \($0.value)" }.joined(separator: "; ")
            throw ServerError.loadFailed(model: name, reason: list)
        }
    }

    /// Loads one version off the concurrency pool, after reserving its memory in the budget.
    private func load(_ name: String, _ version: Int, _ source: VersionSource) async throws -> LLMServable {
        let url = try source.locate()
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
        let need = fileBytes + kvCacheBytes
        try reserve(need, for: "'\(name)' version \(version)")
        let (threads, kvCacheBytes, logger) = (self.threads, self.kvCacheBytes, self.logger)
        do {
            let s = try await withCheckedThrowingContinuation { (c: CheckedContinuation<LLMServable, any Error>) in
                DispatchQueue.global().async {
                    c.resume(with: Result {
                        try LLMServable.load(name: name, version: version, path: url.path, fingerprint: source.fingerprint,
                                             threads: threads, kvCacheBytes: kvCacheBytes, logger: logger)
                    })
                }
            }
            // The reservation becomes the servable's own count (released when it is retired).
            residentBytes.withLock { $0 += s.memoryBytes - need }
            return s
        } catch {
            residentBytes.withLock { $0 -= need }
            throw error
        }
    }

    /// Counts `bytes` against the budget, or refuses with what is in use (draining versions count until released).
    private func reserve(_ bytes: Int, for what: String) throws {
        try residentBytes.withLock { used in
            if let memoryBudget, used + bytes > memoryBudget {
                throw ServerError.badRequest("loading \(what) needs \(Self.mib(bytes)) MiB (mapped file + KV cache), but \(Self.mib(used)) MiB of the --llm-memory-budget of \(Self.mib(memoryBudget)) MiB are in use")
            }
            used += bytes
        }
    }

    /// Drains a version in the background, then returns its memory to the budget.
    private func retire(_ s: LLMServable) {
        let logger = self.logger, resident = residentBytes
        logger.info("language model version draining", metadata: ["model": "\(s.name)", "version": "\(s.version.map(String.init) ?? "-")", "requests": "\(s.holdCount)"])
        Task.detached {
            await s.drain()
            resident.withLock { $0 -= s.memoryBytes }
            logger.notice("language model version released", metadata: ["model": "\(s.name)", "version": "\(s.version.map(String.init) ?? "-")"])
        }
    }
}
