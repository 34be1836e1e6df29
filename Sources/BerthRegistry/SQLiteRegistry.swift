import BerthGate
import Foundation
import GRDB

/// The registry in an embedded SQLite database (WAL mode, so the server and CLI commands can
/// use one data directory at once) beside a content-addressed ``ArtifactStore``.
public final class SQLiteRegistry: Registry, @unchecked Sendable {
    // @unchecked: DatabasePool is thread-safe; the other stored properties are immutable.
    public let store: any ArtifactStorage
    /// The data directory holding the database file (and the artifact store).
    let dataDirectory: URL
    let pool: DatabasePool

    /// The database file inside a data directory.
    public static let databaseFileName = "registry.sqlite"

    /// Opens (creating and migrating as needed) the registry in `dataDirectory`, then removes
    /// what a killed writer left behind: temporary files, and artifacts no version references.
    public init(dataDirectory: URL, cipher: ArtifactCipher? = nil) throws {
        let files = try ArtifactStore(root: dataDirectory, cipher: cipher)
        store = files
        self.dataDirectory = files.root
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in
            // Durable commits: a push that returned survives a power loss, not only a crash.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: self.dataDirectory.appendingPathComponent(Self.databaseFileName).path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw RegistryError.storage("cannot open the registry database in \(self.dataDirectory.path): \(error)")
        }
        try collectGarbage()
    }

    /// Removes abandoned temporary files and unreferenced artifacts. Runs inside a write
    /// transaction: pushes move files into the store while holding the same lock, so an artifact
    /// of a push still in progress is never taken for an orphan.
    func collectGarbage() throws {
        store.removeAbandonedTemporaries()
        try write { db in
            let referenced = Set(try String.fetchAll(db, sql: "SELECT DISTINCT sha256 FROM version"))
            for sha in store.storedDigests().subtracting(referenced) { store.remove(sha256: sha) }
        }
    }

    // MARK: Transactions

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch { throw Self.wrap(error) }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch { throw Self.wrap(error) }
    }

    static func wrap(_ error: Error) -> Error {
        if error is RegistryError { return error }
        return RegistryError.storage("\(error)")
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
        let record: VersionRecord = try write { db in
            let modelID: Int64
            if let id = try findModel(db, request.model) {
                if request.enforceOwner {
                    let owner = try String.fetchOne(db, sql: "SELECT tenant FROM model WHERE id = ?", arguments: [id])
                    // Another tenant's model is answered as unknown, as everywhere else.
                    guard let owner else {
                        throw RegistryError.conflict("model '\(request.model)' has no owner tenant: an admin assigns one first (berth tenants assign)")
                    }
                    guard owner == request.tenant else { throw RegistryError.modelNotFound(request.model) }
                }
                modelID = id
            } else {
                try db.execute(sql: "INSERT INTO model (name, created_at, created_by, tenant) VALUES (?, ?, ?, ?)",
                               arguments: [request.model, now.timeIntervalSince1970, request.actor, request.tenant])
                modelID = db.lastInsertedRowID
            }
            if let d = request.description {
                try db.execute(sql: "UPDATE model SET description = ? WHERE id = ?", arguments: [d, modelID])
            }
            if let parent = request.parent, try versionRow(db, modelID, parent) == nil {
                throw RegistryError.versionNotFound(model: request.model, version: parent)
            }
            if !request.allowSignatureChange, let reference = try signatureReference(db, modelID) {
                let diffs = signature.differences(from: reference.signature)
                if !diffs.isEmpty {
                    throw RegistryError.signatureChanged(model: request.model, against: reference.version, differences: diffs)
                }
            }
            let number = try Int.fetchOne(db, sql: "SELECT next_version FROM model WHERE id = ?", arguments: [modelID]) ?? 1
            try db.execute(sql: "UPDATE model SET next_version = ? WHERE id = ?", arguments: [number + 1, modelID])
            try db.execute(sql: """
                INSERT INTO version (model_id, version, sha256, size, signature, metrics, parent, training_data_digest,
                                     params, tags, serving_config, created_at, created_by, artifact_signature)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [modelID, number, staged.sha256, staged.size, try Self.json(signature), try Self.json(request.metrics),
                                 request.parent, request.trainingDataDigest, try Self.json(request.params), try Self.json(request.tags),
                                 try request.servingConfig.map(Self.json), now.timeIntervalSince1970, request.actor,
                                 request.artifactSignature?.text])
            try recordChange(db, modelID, request.model, .push, alias: nil, from: nil, to: number,
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
        return record
    }

    /// The version a new push must keep the signature of: production, else the latest.
    private func signatureReference(_ db: Database, _ modelID: Int64) throws -> (version: Int, signature: ModelSignature)? {
        let row = try Row.fetchOne(db, sql: """
            SELECT v.version, v.signature FROM version v
            LEFT JOIN alias a ON a.model_id = v.model_id AND a.version = v.version AND a.name = 'production'
            WHERE v.model_id = ? ORDER BY (a.name IS NOT NULL) DESC, v.version DESC LIMIT 1
            """, arguments: [modelID])
        guard let row else { return nil }
        let text: String = row["signature"]
        return (row["version"], try Self.decode(ModelSignature.self, text))
    }

    // MARK: Reads

    public func models() throws -> [ModelRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM model ORDER BY name").map { try modelRecord(db, $0) }
        }
    }

    public func model(_ name: String) throws -> ModelRecord {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM model WHERE name = ?", arguments: [name]) else {
                throw RegistryError.modelNotFound(name)
            }
            return try modelRecord(db, row)
        }
    }

    public func versions(of model: String) throws -> [VersionRecord] {
        try read { db in
            let id = try requireModel(db, model)
            let aliases = try aliasesByVersion(db, id)
            return try Row.fetchAll(db, sql: "SELECT * FROM version WHERE model_id = ? ORDER BY version", arguments: [id])
                .map { try versionRecord($0, model: model, aliases: aliases) }
        }
    }

    public func version(_ model: String, _ ref: VersionRef) throws -> VersionRecord {
        try read { db in
            let id = try requireModel(db, model)
            let number = try resolve(db, id, model, ref)
            guard let row = try versionRow(db, id, number) else { throw RegistryError.versionNotFound(model: model, version: number) }
            return try versionRecord(row, model: model, aliases: try aliasesByVersion(db, id))
        }
    }

    public func history(_ model: String, alias: String?) throws -> [RegistryEvent] {
        try read { db in
            let id = try requireModel(db, model)
            var sql = "SELECT * FROM event WHERE model_id = ?"
            var args: StatementArguments = [id]
            if let alias {
                sql += " AND alias = ?"
                args += [alias]
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY id", arguments: args).map { Self.event($0, model: model) }
        }
    }

    public func traffic(_ model: String) throws -> TrafficPolicy {
        try read { db in try trafficPolicy(db, try requireModel(db, model), model) }
    }

    public func deployments() throws -> [Deployment] {
        try read { db in
            var out: [Deployment] = []
            for row in try Row.fetchAll(db, sql: "SELECT id, name FROM model ORDER BY name") {
                let id: Int64 = row["id"]
                let name: String = row["name"]
                let aliases = try Row.fetchAll(db, sql: """
                    SELECT a.name, a.version, v.sha256, v.serving_config FROM alias a
                    JOIN version v ON v.model_id = a.model_id AND v.version = a.version
                    WHERE a.model_id = ?
                    """, arguments: [id])
                guard !aliases.isEmpty else { continue }
                var versions: [Int: String] = [:]
                var configs: [Int: JSONNode] = [:]
                var production: Int?
                for a in aliases {
                    versions[a["version"]] = a["sha256"]
                    if let text: String = a["serving_config"] { configs[a["version"]] = try Self.decode(JSONNode.self, text) }
                    if (a["name"] as String) == "production" { production = a["version"] }
                }
                var traffic = try trafficPolicy(db, id, name)
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
        try read { db in try Int64.fetchOne(db, sql: "SELECT value FROM revision WHERE id = 1") ?? 0 }
    }

    // MARK: Aliases

    @discardableResult
    public func setAlias(_ model: String, _ alias: String, version: Int, change: Change) throws -> RegistryEvent {
        try moveAlias(model, alias, to: version, action: .alias, change: change)
    }

    @discardableResult
    public func removeAlias(_ model: String, _ alias: String, change: Change) throws -> RegistryEvent {
        try write { db in
            let id = try requireModel(db, model)
            guard let current = try currentAlias(db, id, alias) else { throw RegistryError.aliasNotFound(model: model, alias: alias) }
            try db.execute(sql: "DELETE FROM alias WHERE model_id = ? AND name = ?", arguments: [id, alias])
            return try recordChange(db, id, model, .unalias, alias: alias, from: current, to: nil, change: change)
        }
    }

    public func checkPromotion(_ model: String, version: Int, gates: [Gate], alias: String) throws {
        try Names.checkAlias(alias)
        try read { db in
            let id = try requireModel(db, model)
            guard let row = try versionRow(db, id, version) else { throw RegistryError.versionNotFound(model: model, version: version) }
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
        try read { db in try rollbackTarget(db, try requireModel(db, model), model, alias) }
    }

    @discardableResult
    public func rollback(_ model: String, alias: String, change: Change) throws -> RegistryEvent {
        try write { db in
            let id = try requireModel(db, model)
            let target = try rollbackTarget(db, id, model, alias)
            return try pointAlias(db, id, model, alias, from: try currentAlias(db, id, alias), to: target, action: .rollback, change: change)
        }
    }

    /// Points `alias` at an existing `version` after `check` accepted the version's row.
    private func moveAlias(_ model: String, _ alias: String, to version: Int, action: RegistryEvent.Action, change: Change,
                           check: ((Row) throws -> Void)? = nil) throws -> RegistryEvent {
        try Names.checkAlias(alias)
        return try write { db in
            let id = try requireModel(db, model)
            guard let row = try versionRow(db, id, version) else { throw RegistryError.versionNotFound(model: model, version: version) }
            try check?(row)
            let from = try currentAlias(db, id, alias)
            if from == version { throw RegistryError.conflict("alias '\(alias)' of '\(model)' already points at version \(version)") }
            return try pointAlias(db, id, model, alias, from: from, to: version, action: action, change: change)
        }
    }

    /// Writes the alias row and records the move.
    private func pointAlias(_ db: Database, _ id: Int64, _ model: String, _ alias: String, from: Int?, to version: Int,
                            action: RegistryEvent.Action, change: Change) throws -> RegistryEvent {
        try db.execute(sql: "INSERT OR REPLACE INTO alias (model_id, name, version) VALUES (?, ?, ?)", arguments: [id, alias, version])
        return try recordChange(db, id, model, action, alias: alias, from: from, to: version, change: change)
    }

    private static func checkGates(_ row: Row, _ model: String, version: Int, gates: [Gate]) throws {
        guard !gates.isEmpty else { return }
        let metrics = try Self.decode([String: Double].self, row["metrics"])
        let failures = gates.compactMap { gate -> String? in
            guard let value = metrics[gate.metric] else {
                return "\(gate): the version has no metric '\(gate.metric)' (push it with --metrics eval.json)"
            }
            return gate.isMet(by: value) ? nil : "\(gate): \(gate.metric) is \(value)"
        }
        if !failures.isEmpty { throw RegistryError.gateFailed(model: model, version: version, failures: failures) }
    }

    /// Replays the alias's history as a stack: a push or promotion adds the new version, a
    /// rollback removes the current one, removing the alias empties it. The target is the entry
    /// below the current version (skipping deleted versions), so rollbacks walk back one step
    /// each time.
    private func rollbackTarget(_ db: Database, _ id: Int64, _ model: String, _ alias: String) throws -> Int {
        guard let current = try currentAlias(db, id, alias) else { throw RegistryError.aliasNotFound(model: model, alias: alias) }
        var stack: [Int] = []
        for row in try Row.fetchAll(db, sql: "SELECT action, to_version FROM event WHERE model_id = ? AND alias = ? ORDER BY id",
                                    arguments: [id, alias]) {
            let action = RegistryEvent.Action(rawValue: row["action"])
            let to: Int? = row["to_version"]
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
            if try versionRow(db, id, candidate) != nil, candidate != current { return candidate }
            stack.removeLast()
        }
        throw RegistryError.conflict("'\(model)' has no earlier \(alias) version to roll back to (it is version \(current))")
    }

    // MARK: Delete and traffic

    @discardableResult
    public func deleteVersion(_ model: String, _ version: Int, change: Change) throws -> RegistryEvent {
        let (event, unreferenced) = try write { db -> (RegistryEvent, String?) in
            let id = try requireModel(db, model)
            guard let row = try versionRow(db, id, version) else { throw RegistryError.versionNotFound(model: model, version: version) }
            let aliases = try String.fetchAll(db, sql: "SELECT name FROM alias WHERE model_id = ? AND version = ? ORDER BY name",
                                              arguments: [id, version])
            if !aliases.isEmpty {
                throw RegistryError.conflict("version \(version) of '\(model)' is aliased as \(aliases.joined(separator: ", ")); "
                                             + "move the alias\(aliases.count > 1 ? "es" : "") first")
            }
            let sha: String = row["sha256"]
            try db.execute(sql: "DELETE FROM version WHERE model_id = ? AND version = ?", arguments: [id, version])
            let e = try recordChange(db, id, model, .delete, alias: nil, from: version, to: nil, change: change)
            let shared = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM version WHERE sha256 = ?", arguments: [sha]) ?? 0
            return (e, shared == 0 ? sha : nil)
        }
        // Only after the commit: a failed commit must not leave a version without its file (if the
        // process dies first, the next open removes the unreferenced file).
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
        return try write { db in
            let id = try requireModel(db, model)
            for split in [policy.canary, policy.shadow].compactMap({ $0 }) where try currentAlias(db, id, split.alias) == nil {
                throw RegistryError.aliasNotFound(model: model, alias: split.alias)
            }
            try db.execute(sql: """
                INSERT OR REPLACE INTO traffic (model_id, canary_alias, canary_percent, shadow_alias, shadow_percent)
                VALUES (?, ?, ?, ?, ?)
                """, arguments: [id, policy.canary?.alias, policy.canary?.percent ?? 0, policy.shadow?.alias, policy.shadow?.percent ?? 0])
            var why = change
            if why.reason.isEmpty { why.reason = Self.describe(policy) }
            try recordChange(db, id, model, .traffic, alias: nil, from: nil, to: nil, change: why)
            return try trafficPolicy(db, id, model)
        }
    }

    static func describe(_ p: TrafficPolicy) -> String {
        func part(_ kind: String, _ s: TrafficPolicy.Split?) -> String {
            s.map { "\(kind) \($0.alias) \($0.percent)%" } ?? "no \(kind)"
        }
        return part("canary", p.canary) + ", " + part("shadow", p.shadow)
    }

    // MARK: Rows

    private func findModel(_ db: Database, _ name: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM model WHERE name = ?", arguments: [name])
    }

    func requireModel(_ db: Database, _ name: String) throws -> Int64 {
        guard let id = try findModel(db, name) else { throw RegistryError.modelNotFound(name) }
        return id
    }

    private func versionRow(_ db: Database, _ id: Int64, _ version: Int) throws -> Row? {
        try Row.fetchOne(db, sql: "SELECT * FROM version WHERE model_id = ? AND version = ?", arguments: [id, version])
    }

    private func currentAlias(_ db: Database, _ id: Int64, _ alias: String) throws -> Int? {
        try Int.fetchOne(db, sql: "SELECT version FROM alias WHERE model_id = ? AND name = ?", arguments: [id, alias])
    }

    private func resolve(_ db: Database, _ id: Int64, _ model: String, _ ref: VersionRef) throws -> Int {
        switch ref {
        case let .number(n): return n
        case let .alias(a):
            guard let v = try currentAlias(db, id, a) else { throw RegistryError.aliasNotFound(model: model, alias: a) }
            return v
        }
    }

    private func aliasesByVersion(_ db: Database, _ id: Int64) throws -> [Int: [String]] {
        var out: [Int: [String]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, version FROM alias WHERE model_id = ? ORDER BY name", arguments: [id]) {
            out[row["version"], default: []].append(row["name"])
        }
        return out
    }

    private func modelRecord(_ db: Database, _ row: Row) throws -> ModelRecord {
        let id: Int64 = row["id"]
        var aliases: [String: Int] = [:]
        for (v, names) in try aliasesByVersion(db, id) { for n in names { aliases[n] = v } }
        return ModelRecord(name: row["name"], description: row["description"], tags: try Self.decode([String: String].self, row["tags"]),
                           latestVersion: try Int.fetchOne(db, sql: "SELECT MAX(version) FROM version WHERE model_id = ?", arguments: [id]),
                           aliases: aliases, createdAt: Date(timeIntervalSince1970: row["created_at"]), createdBy: row["created_by"],
                           tenant: row["tenant"])
    }

    private func versionRecord(_ row: Row, model: String, aliases: [Int: [String]]) throws -> VersionRecord {
        let number: Int = row["version"]
        return VersionRecord(model: model, version: number, sha256: row["sha256"], size: row["size"],
                             signature: try Self.decode(ModelSignature.self, row["signature"]),
                             metrics: try Self.decode([String: Double].self, row["metrics"]), parent: row["parent"],
                             trainingDataDigest: row["training_data_digest"], params: try Self.decode([String: String].self, row["params"]),
                             tags: try Self.decode([String: String].self, row["tags"]),
                             servingConfig: try (row["serving_config"] as String?).map { try Self.decode(JSONNode.self, $0) },
                             aliases: aliases[number] ?? [],
                             createdAt: Date(timeIntervalSince1970: row["created_at"]), createdBy: row["created_by"],
                             artifactSignature: try (row["artifact_signature"] as String?).map { try ArtifactSignature(text: $0) })
    }

    private func trafficPolicy(_ db: Database, _ id: Int64, _ model: String) throws -> TrafficPolicy {
        var policy = TrafficPolicy(model: model)
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM traffic WHERE model_id = ?", arguments: [id]) else { return policy }
        func split(_ aliasColumn: String, _ percentColumn: String) throws -> TrafficPolicy.Split? {
            guard let alias: String = row[aliasColumn] else { return nil }
            return TrafficPolicy.Split(alias: alias, percent: row[percentColumn], version: try currentAlias(db, id, alias))
        }
        policy.canary = try split("canary_alias", "canary_percent")
        policy.shadow = try split("shadow_alias", "shadow_percent")
        return policy
    }

    /// Appends a change to the history and bumps the revision servers poll: every write does both.
    @discardableResult
    func recordChange(_ db: Database, _ id: Int64, _ model: String, _ action: RegistryEvent.Action, alias: String?,
                        from: Int?, to: Int?, change: Change, at: Date = Date()) throws -> RegistryEvent {
        try db.execute(sql: """
            INSERT INTO event (model_id, action, alias, from_version, to_version, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [id, action.rawValue, alias, from, to, change.actor, change.reason, at.timeIntervalSince1970])
        try db.execute(sql: "UPDATE revision SET value = value + 1 WHERE id = 1")
        return RegistryEvent(id: db.lastInsertedRowID, model: model, action: action, alias: alias, from: from, to: to,
                             actor: change.actor, reason: change.reason, at: at)
    }

    private static func event(_ row: Row, model: String) -> RegistryEvent {
        RegistryEvent(id: row["id"], model: model, action: RegistryEvent.Action(rawValue: row["action"]) ?? .alias,
                      alias: row["alias"], from: row["from_version"], to: row["to_version"], actor: row["actor"],
                      reason: row["reason"], at: Date(timeIntervalSince1970: row["at"]))
    }

    // MARK: JSON columns

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(text.utf8)) } catch {
            throw RegistryError.storage("a stored \(type) does not decode: \(error)")
        }
    }
}
