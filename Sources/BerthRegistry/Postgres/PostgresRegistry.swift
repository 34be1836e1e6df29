import BerthGate
import Foundation
import Logging
import PostgresNIO

/// The registry in a PostgreSQL database shared by every replica, beside a shared
/// content-addressed ``ArtifactStore`` (`--data-dir` on a shared file system). The same tables,
/// migrations and rules as ``SQLiteRegistry``: writes run one at a time (a transaction-level
/// advisory lock, so two replicas pushing at once get distinct version numbers), the history is
/// append-only (a trigger), and every change bumps the revision and NOTIFYs it.
public final class PostgresRegistry: Registry, @unchecked Sendable {
    // @unchecked: the pool is thread-safe; the other stored properties are immutable.
    public let store: any ArtifactStorage
    let pool: PostgresPool
    /// The last revision read, the auth cache's stamp while the database is unreachable.
    let lastStamp = Guarded<Int64?>(nil)
    /// The LISTEN connection and leadership (see ``ClusterCoordinator``).
    let watch = Guarded(WatchState())
    /// The database's address (without its password).
    public var url: PostgresURL { pool.url }

    /// Connects to `url` with the artifacts in `dataDirectory` (shared by the replicas).
    public convenience init(url: PostgresURL, dataDirectory: URL, cipher: ArtifactCipher? = nil, migrate: Bool = true,
                            logger: Logger = Logger(label: "berth.registry.postgres")) throws {
        try self.init(url: url, store: try ArtifactStore(root: dataDirectory, cipher: cipher), migrate: migrate, logger: logger)
    }

    /// Connects to `url`; with `migrate` (the default), applies pending migrations, then removes
    /// what a killed writer left in the shared store: temporary files of dead processes, and
    /// artifacts no version references. Without it, only connects (`berth registry migrate`).
    /// Fails with ``RegistryError/unavailable(_:)`` when the database cannot be reached.
    public init(url: PostgresURL, store: any ArtifactStorage, migrate: Bool = true,
                logger: Logger = Logger(label: "berth.registry.postgres")) throws {
        self.store = store
        pool = PostgresPool(url: url, logger: logger)
        if migrate {
            try self.migrate()
            try collectGarbage()
        }
    }

    /// Closes the connections (also done when the registry is released).
    deinit { stopWatching() }

    public func close() {
        stopWatching()
        pool.shutdown()
    }

    /// The migrations applied to the database, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.withConnection { s in
            try s.query("SELECT id FROM schema_migrations ORDER BY applied_at, id").map { try $0.get("id", as: String.self) }
        }
    }

    /// Runs the pending migrations (what `berth registry migrate` does); returns those it applied.
    @discardableResult
    public func runMigrations() throws -> [String] { try migrate() }

    /// Removes abandoned temporaries and unreferenced artifacts under the write lock (pushes move
    /// their file into the store while holding it, so a push in progress is never collected).
    func collectGarbage() throws {
        store.removeAbandonedTemporaries()
        try write { s in
            let referenced = Set(try s.query("SELECT DISTINCT sha256 FROM version").map { try $0.get("sha256", as: String.self) })
            for sha in store.storedDigests().subtracting(referenced) { store.remove(sha256: sha) }
        }
    }

    // MARK: Transactions

    func read<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        try pool.transaction(write: false, body)
    }

    func write<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        try pool.transaction(write: true, body)
    }

    // MARK: Push

    public func push(_ staged: StagedArtifact, _ request: PushRequest) throws -> VersionRecord {
        var committed = false
        defer { if !committed { store.discard(staged) } }
        try Names.checkModel(request.model)
        let signature = try store.withPlaintext(of: staged) { try ModelSignature(onnxFile: $0) }
        switch request.servingConfig {
        case nil, .object?: break
        default: throw RegistryError.badInput("the serving configuration must be a JSON object")
        }
        let now = Date()
        return try write { s in
            let modelID: Int64
            if let id = try findModel(s, request.model) {
                if request.enforceOwner {
                    let owner = try s.scalar(String.self, "SELECT tenant FROM model WHERE id = $1", [id])
                    guard let owner else {
                        throw RegistryError.conflict("model '\(request.model)' has no owner tenant: an admin assigns one first (berth tenants assign)")
                    }
                    guard owner == request.tenant else { throw RegistryError.modelNotFound(request.model) }
                }
                modelID = id
            } else {
                modelID = try s.scalar(Int64.self, "INSERT INTO model (name, created_at, created_by, tenant) VALUES ($1, $2, $3, $4) RETURNING id",
                                       [request.model, now.timeIntervalSince1970, request.actor, request.tenant])!
            }
            if let d = request.description {
                try s.execute("UPDATE model SET description = $1 WHERE id = $2", [d, modelID])
            }
            if let parent = request.parent, try versionRow(s, modelID, parent) == nil {
                throw RegistryError.versionNotFound(model: request.model, version: parent)
            }
            if !request.allowSignatureChange, let reference = try signatureReference(s, modelID) {
                let diffs = signature.differences(from: reference.signature)
                if !diffs.isEmpty {
                    throw RegistryError.signatureChanged(model: request.model, against: reference.version, differences: diffs)
                }
            }
            let number = try s.scalar(Int.self, "UPDATE model SET next_version = next_version + 1 WHERE id = $1 RETURNING next_version - 1", [modelID]) ?? 1
            try s.execute("""
                INSERT INTO version (model_id, version, sha256, size, signature, metrics, parent, training_data_digest,
                                     params, tags, serving_config, created_at, created_by, artifact_signature)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                """, [modelID, number, staged.sha256, staged.size, try SQLiteRegistry.json(signature), try SQLiteRegistry.json(request.metrics),
                      request.parent, request.trainingDataDigest, try SQLiteRegistry.json(request.params), try SQLiteRegistry.json(request.tags),
                      try request.servingConfig.map(SQLiteRegistry.json), now.timeIntervalSince1970, request.actor,
                      request.artifactSignature?.text])
            try recordChange(s, modelID, request.model, .push, alias: nil, from: nil, to: number,
                             change: Change(actor: request.actor, reason: request.reason), at: now)
            // The file enters the store last, still inside the transaction: if the commit fails
            // the artifact is an orphan that the next open removes, never a version without file.
            try store.commit(staged)
            committed = true
            return VersionRecord(model: request.model, version: number, sha256: staged.sha256, size: staged.size, signature: signature,
                                 metrics: request.metrics, parent: request.parent, trainingDataDigest: request.trainingDataDigest,
                                 params: request.params, tags: request.tags, servingConfig: request.servingConfig, aliases: [],
                                 createdAt: now, createdBy: request.actor, artifactSignature: request.artifactSignature)
        }
    }

    /// The version a new push must keep the signature of: production, else the latest.
    private func signatureReference(_ s: PostgresSession, _ modelID: Int64) throws -> (version: Int, signature: ModelSignature)? {
        guard let row = try s.query("""
            SELECT v.version, v.signature FROM version v
            LEFT JOIN alias a ON a.model_id = v.model_id AND a.version = v.version AND a.name = 'production'
            WHERE v.model_id = $1 ORDER BY (a.name IS NOT NULL) DESC, v.version DESC LIMIT 1
            """, [modelID]).first else { return nil }
        return (try row.get("version"), try SQLiteRegistry.decode(ModelSignature.self, try row.get("signature")))
    }

    // MARK: Reads

    public func models() throws -> [ModelRecord] {
        try read { s in try s.query("SELECT * FROM model ORDER BY name").map { try modelRecord(s, $0) } }
    }

    public func model(_ name: String) throws -> ModelRecord {
        try read { s in
            guard let row = try s.query("SELECT * FROM model WHERE name = $1", [name]).first else { throw RegistryError.modelNotFound(name) }
            return try modelRecord(s, row)
        }
    }

    public func versions(of model: String) throws -> [VersionRecord] {
        try read { s in
            let id = try requireModel(s, model)
            let aliases = try aliasesByVersion(s, id)
            return try s.query("SELECT * FROM version WHERE model_id = $1 ORDER BY version", [id])
                .map { try versionRecord($0, model: model, aliases: aliases) }
        }
    }

    public func version(_ model: String, _ ref: VersionRef) throws -> VersionRecord {
        try read { s in
            let id = try requireModel(s, model)
            let number = try resolve(s, id, model, ref)
            guard let row = try versionRow(s, id, number) else { throw RegistryError.versionNotFound(model: model, version: number) }
            return try versionRecord(row, model: model, aliases: try aliasesByVersion(s, id))
        }
    }

    public func history(_ model: String, alias: String?) throws -> [RegistryEvent] {
        try read { s in
            let id = try requireModel(s, model)
            let rows = try alias.map { try s.query("SELECT * FROM event WHERE model_id = $1 AND alias = $2 ORDER BY id", [id, $0]) }
                ?? s.query("SELECT * FROM event WHERE model_id = $1 ORDER BY id", [id])
            return try rows.map { try Self.event($0, model: model) }
        }
    }

    public func traffic(_ model: String) throws -> TrafficPolicy {
        try read { s in try trafficPolicy(s, try requireModel(s, model), model) }
    }

    public func deployments() throws -> [Deployment] {
        try read { s in
            var out: [Deployment] = []
            for row in try s.query("SELECT id, name FROM model ORDER BY name") {
                let id: Int64 = try row.get("id")
                let name: String = try row.get("name")
                let aliases = try s.query("""
                    SELECT a.name, a.version, v.sha256, v.serving_config FROM alias a
                    JOIN version v ON v.model_id = a.model_id AND v.version = a.version
                    WHERE a.model_id = $1
                    """, [id])
                guard !aliases.isEmpty else { continue }
                var versions: [Int: String] = [:]
                var configs: [Int: JSONNode] = [:]
                var production: Int?
                for a in aliases {
                    let v: Int = try a.get("version")
                    versions[v] = try a.get("sha256")
                    if let text = try a.get("serving_config", as: String?.self) { configs[v] = try SQLiteRegistry.decode(JSONNode.self, text) }
                    if try a.get("name", as: String.self) == "production" { production = v }
                }
                var traffic = try trafficPolicy(s, id, name)
                if traffic.canary?.version == nil { traffic.canary = nil }
                if traffic.shadow?.version == nil { traffic.shadow = nil }
                var d = Deployment(model: name, versions: versions, production: production, traffic: traffic)
                d.servingConfigs = configs
                out.append(d)
            }
            return out
        }
    }

    public func revision() throws -> Int64 {
        let r = try pool.withConnection { s in try s.scalar(Int64.self, "SELECT value FROM revision WHERE id = 1") ?? 0 }
        noteRevision(r)
        return r
    }

    /// Remembers the newest revision seen (read, or announced by NOTIFY): the auth cache's stamp.
    func noteRevision(_ r: Int64) {
        lastStamp.withLock { $0 = max($0 ?? r, r) }
    }

    // MARK: Aliases

    @discardableResult
    public func setAlias(_ model: String, _ alias: String, version: Int, change: Change) throws -> RegistryEvent {
        try moveAlias(model, alias, to: version, action: .alias, change: change)
    }

    @discardableResult
    public func removeAlias(_ model: String, _ alias: String, change: Change) throws -> RegistryEvent {
        try write { s in
            let id = try requireModel(s, model)
            guard let current = try currentAlias(s, id, alias) else { throw RegistryError.aliasNotFound(model: model, alias: alias) }
            try s.execute("DELETE FROM alias WHERE model_id = $1 AND name = $2", [id, alias])
            return try recordChange(s, id, model, .unalias, alias: alias, from: current, to: nil, change: change)
        }
    }

    public func checkPromotion(_ model: String, version: Int, gates: [Gate], alias: String) throws {
        try Names.checkAlias(alias)
        try read { s in
            let id = try requireModel(s, model)
            guard let row = try versionRow(s, id, version) else { throw RegistryError.versionNotFound(model: model, version: version) }
            try Self.checkGates(row, model, version: version, gates: gates)
        }
    }

    @discardableResult
    public func promote(_ model: String, version: Int, gates: [Gate], alias: String, change: Change) throws -> RegistryEvent {
        try moveAlias(model, alias, to: version, action: .promote, change: change) { row in
            try Self.checkGates(row, model, version: version, gates: gates)
        }
    }

    public func rollbackTarget(_ model: String, alias: String) throws -> Int {
        try read { s in try rollbackTarget(s, try requireModel(s, model), model, alias) }
    }

    @discardableResult
    public func rollback(_ model: String, alias: String, change: Change) throws -> RegistryEvent {
        try write { s in
            let id = try requireModel(s, model)
            let target = try rollbackTarget(s, id, model, alias)
            return try pointAlias(s, id, model, alias, from: try currentAlias(s, id, alias), to: target, action: .rollback, change: change)
        }
    }

    private func moveAlias(_ model: String, _ alias: String, to version: Int, action: RegistryEvent.Action, change: Change,
                           check: ((PostgresRandomAccessRow) throws -> Void)? = nil) throws -> RegistryEvent {
        try Names.checkAlias(alias)
        return try write { s in
            let id = try requireModel(s, model)
            guard let row = try versionRow(s, id, version) else { throw RegistryError.versionNotFound(model: model, version: version) }
            try check?(row)
            let from = try currentAlias(s, id, alias)
            if from == version { throw RegistryError.conflict("alias '\(alias)' of '\(model)' already points at version \(version)") }
            return try pointAlias(s, id, model, alias, from: from, to: version, action: action, change: change)
        }
    }

    private func pointAlias(_ s: PostgresSession, _ id: Int64, _ model: String, _ alias: String, from: Int?, to version: Int,
                            action: RegistryEvent.Action, change: Change) throws -> RegistryEvent {
        try s.execute("""
            INSERT INTO alias (model_id, name, version) VALUES ($1, $2, $3)
            ON CONFLICT (model_id, name) DO UPDATE SET version = EXCLUDED.version
            """, [id, alias, version])
        return try recordChange(s, id, model, action, alias: alias, from: from, to: version, change: change)
    }

    private static func checkGates(_ row: PostgresRandomAccessRow, _ model: String, version: Int, gates: [Gate]) throws {
        guard !gates.isEmpty else { return }
        let metrics = try SQLiteRegistry.decode([String: Double].self, try row.get("metrics"))
        let failures = gates.compactMap { gate -> String? in
            guard let value = metrics[gate.metric] else {
                return "\(gate): the version has no metric '\(gate.metric)' (push it with --metrics eval.json)"
            }
            return gate.isMet(by: value) ? nil : "\(gate): \(gate.metric) is \(value)"
        }
        if !failures.isEmpty { throw RegistryError.gateFailed(model: model, version: version, failures: failures) }
    }

    /// The alias's history replayed as a stack (see ``SQLiteRegistry``'s rollback target).
    private func rollbackTarget(_ s: PostgresSession, _ id: Int64, _ model: String, _ alias: String) throws -> Int {
        guard let current = try currentAlias(s, id, alias) else { throw RegistryError.aliasNotFound(model: model, alias: alias) }
        var stack: [Int] = []
        for row in try s.query("SELECT action, to_version FROM event WHERE model_id = $1 AND alias = $2 ORDER BY id", [id, alias]) {
            let action = RegistryEvent.Action(rawValue: try row.get("action"))
            let to: Int? = try row.get("to_version")
            switch action {
            case .alias?, .promote?:
                if let to, stack.last != to { stack.append(to) }
            case .rollback?:
                if !stack.isEmpty { stack.removeLast() }
                if let to, stack.last != to { stack.append(to) }
            case .unalias?:
                stack.removeAll()
            default:
                break
            }
        }
        if stack.last == current { stack.removeLast() }
        while let candidate = stack.last {
            if try versionRow(s, id, candidate) != nil, candidate != current { return candidate }
            stack.removeLast()
        }
        throw RegistryError.conflict("'\(model)' has no earlier \(alias) version to roll back to (it is version \(current))")
    }

    // MARK: Delete and traffic

    @discardableResult
    public func deleteVersion(_ model: String, _ version: Int, change: Change) throws -> RegistryEvent {
        let (event, unreferenced) = try write { s -> (RegistryEvent, String?) in
            let id = try requireModel(s, model)
            guard let row = try versionRow(s, id, version) else { throw RegistryError.versionNotFound(model: model, version: version) }
            let aliases = try s.query("SELECT name FROM alias WHERE model_id = $1 AND version = $2 ORDER BY name", [id, version])
                .map { try $0.get("name", as: String.self) }
            if !aliases.isEmpty {
                throw RegistryError.conflict("version \(version) of '\(model)' is aliased as \(aliases.joined(separator: ", ")); "
                                             + "move the alias\(aliases.count > 1 ? "es" : "") first")
            }
            let sha: String = try row.get("sha256")
            try s.execute("DELETE FROM version WHERE model_id = $1 AND version = $2", [id, version])
            let e = try recordChange(s, id, model, .delete, alias: nil, from: version, to: nil, change: change)
            let shared = try s.scalar(Int.self, "SELECT COUNT(*) FROM version WHERE sha256 = $1", [sha]) ?? 0
            return (e, shared == 0 ? sha : nil)
        }
        if let unreferenced { store.remove(sha256: unreferenced) }
        return event
    }

    @discardableResult
    public func setTraffic(_ model: String, _ policy: TrafficPolicy, change: Change) throws -> TrafficPolicy {
        for split in [policy.canary, policy.shadow].compactMap({ $0 }) {
            try Names.checkAlias(split.alias)
            guard split.percent.isFinite, (0...100).contains(split.percent) else {
                throw RegistryError.badInput("a traffic percentage must be between 0 and 100, got \(split.percent)")
            }
        }
        if policy.canary?.alias == "production" || policy.shadow?.alias == "production" {
            throw RegistryError.badInput("the canary and shadow must be aliases other than 'production'")
        }
        return try write { s in
            let id = try requireModel(s, model)
            for split in [policy.canary, policy.shadow].compactMap({ $0 }) where try currentAlias(s, id, split.alias) == nil {
                throw RegistryError.aliasNotFound(model: model, alias: split.alias)
            }
            try s.execute("""
                INSERT INTO traffic (model_id, canary_alias, canary_percent, shadow_alias, shadow_percent) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (model_id) DO UPDATE SET canary_alias = EXCLUDED.canary_alias, canary_percent = EXCLUDED.canary_percent,
                    shadow_alias = EXCLUDED.shadow_alias, shadow_percent = EXCLUDED.shadow_percent
                """, [id, policy.canary?.alias, policy.canary?.percent ?? 0, policy.shadow?.alias, policy.shadow?.percent ?? 0])
            var why = change
            if why.reason.isEmpty { why.reason = SQLiteRegistry.describe(policy) }
            try recordChange(s, id, model, .traffic, alias: nil, from: nil, to: nil, change: why)
            return try trafficPolicy(s, id, model)
        }
    }

    // MARK: Rows

    private func findModel(_ s: PostgresSession, _ name: String) throws -> Int64? {
        try s.scalar(Int64.self, "SELECT id FROM model WHERE name = $1", [name])
    }

    func requireModel(_ s: PostgresSession, _ name: String) throws -> Int64 {
        guard let id = try findModel(s, name) else { throw RegistryError.modelNotFound(name) }
        return id
    }

    private func versionRow(_ s: PostgresSession, _ id: Int64, _ version: Int) throws -> PostgresRandomAccessRow? {
        try s.query("SELECT * FROM version WHERE model_id = $1 AND version = $2", [id, version]).first
    }

    private func currentAlias(_ s: PostgresSession, _ id: Int64, _ alias: String) throws -> Int? {
        try s.scalar(Int.self, "SELECT version FROM alias WHERE model_id = $1 AND name = $2", [id, alias])
    }

    private func resolve(_ s: PostgresSession, _ id: Int64, _ model: String, _ ref: VersionRef) throws -> Int {
        switch ref {
        case let .number(n): return n
        case let .alias(a):
            guard let v = try currentAlias(s, id, a) else { throw RegistryError.aliasNotFound(model: model, alias: a) }
            return v
        }
    }

    private func aliasesByVersion(_ s: PostgresSession, _ id: Int64) throws -> [Int: [String]] {
        var out: [Int: [String]] = [:]
        for row in try s.query("SELECT name, version FROM alias WHERE model_id = $1 ORDER BY name", [id]) {
            out[try row.get("version", as: Int.self), default: []].append(try row.get("name"))
        }
        return out
    }

    private func modelRecord(_ s: PostgresSession, _ row: PostgresRandomAccessRow) throws -> ModelRecord {
        let id: Int64 = try row.get("id")
        var aliases: [String: Int] = [:]
        for (v, names) in try aliasesByVersion(s, id) { for n in names { aliases[n] = v } }
        return ModelRecord(name: try row.get("name"), description: try row.get("description"),
                           tags: try SQLiteRegistry.decode([String: String].self, try row.get("tags")),
                           latestVersion: try s.scalar(Int.self, "SELECT MAX(version) FROM version WHERE model_id = $1", [id]),
                           aliases: aliases, createdAt: Date(timeIntervalSince1970: try row.get("created_at")), createdBy: try row.get("created_by"),
                           tenant: try row.get("tenant"))
    }

    private func versionRecord(_ row: PostgresRandomAccessRow, model: String, aliases: [Int: [String]]) throws -> VersionRecord {
        let number: Int = try row.get("version")
        return VersionRecord(model: model, version: number, sha256: try row.get("sha256"), size: try row.get("size"),
                             signature: try SQLiteRegistry.decode(ModelSignature.self, try row.get("signature")),
                             metrics: try SQLiteRegistry.decode([String: Double].self, try row.get("metrics")), parent: try row.get("parent"),
                             trainingDataDigest: try row.get("training_data_digest"),
                             params: try SQLiteRegistry.decode([String: String].self, try row.get("params")),
                             tags: try SQLiteRegistry.decode([String: String].self, try row.get("tags")),
                             servingConfig: try (try row.get("serving_config", as: String?.self)).map { try SQLiteRegistry.decode(JSONNode.self, $0) },
                             aliases: aliases[number] ?? [],
                             createdAt: Date(timeIntervalSince1970: try row.get("created_at")), createdBy: try row.get("created_by"),
                             artifactSignature: try (try row.get("artifact_signature", as: String?.self)).map { try ArtifactSignature(text: $0) })
    }

    private func trafficPolicy(_ s: PostgresSession, _ id: Int64, _ model: String) throws -> TrafficPolicy {
        var policy = TrafficPolicy(model: model)
        guard let row = try s.query("SELECT * FROM traffic WHERE model_id = $1", [id]).first else { return policy }
        func split(_ aliasColumn: String, _ percentColumn: String) throws -> TrafficPolicy.Split? {
            guard let alias = try row.get(aliasColumn, as: String?.self) else { return nil }
            return TrafficPolicy.Split(alias: alias, percent: try row.get(percentColumn), version: try currentAlias(s, id, alias))
        }
        policy.canary = try split("canary_alias", "canary_percent")
        policy.shadow = try split("shadow_alias", "shadow_percent")
        return policy
    }

    /// Appends a change to the history and bumps the revision (whose trigger NOTIFYs replicas).
    @discardableResult
    func recordChange(_ s: PostgresSession, _ id: Int64, _ model: String, _ action: RegistryEvent.Action, alias: String?,
                      from: Int?, to: Int?, change: Change, at: Date = Date()) throws -> RegistryEvent {
        let eventID = try s.scalar(Int64.self, """
            INSERT INTO event (model_id, action, alias, from_version, to_version, actor, reason, at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
            """, [id, action.rawValue, alias, from, to, change.actor, change.reason, at.timeIntervalSince1970])!
        try bumpRevision(s)
        return RegistryEvent(id: eventID, model: model, action: action, alias: alias, from: from, to: to,
                             actor: change.actor, reason: change.reason, at: at)
    }

    /// Every write calls this once: readers poll the value, and its trigger wakes listeners.
    func bumpRevision(_ s: PostgresSession) throws {
        try s.execute("UPDATE revision SET value = value + 1 WHERE id = 1")
    }

    private static func event(_ row: PostgresRandomAccessRow, model: String) throws -> RegistryEvent {
        RegistryEvent(id: try row.get("id"), model: model, action: RegistryEvent.Action(rawValue: try row.get("action")) ?? .alias,
                      alias: try row.get("alias"), from: try row.get("from_version"), to: try row.get("to_version"), actor: try row.get("actor"),
                      reason: try row.get("reason"), at: Date(timeIntervalSince1970: try row.get("at")))
    }
}
