import BerthGate
import Foundation

/// The registry's rules, written once for both databases: pushes (owner, parent and signature
/// checks, version numbers), aliases and promotions through gates, rollbacks replayed from the
/// history, deletion, traffic splits and signatures, each write appended to the history with the
/// revision bumped. ``SQLiteRegistry`` and ``PostgresRegistry`` supply the transactions
/// (``RegistryTransactions``) and what only they do (opening, migrations, notifications).
struct RegistryCore: Sendable {
    let store: any ArtifactStorage
    let db: any RegistryTransactions
    /// Key, quota and owner changes bump the revision too (PostgreSQL: the auth caches' change
    /// stamp); SQLite's auth cache watches the database file instead.
    var bumpsRevisionOnAccessChanges = false

    // MARK: Push

    func push(_ staged: StagedArtifact, _ request: PushRequest) throws -> VersionRecord {
        var committed = false
        defer { if !committed { store.discard(staged) } }
        try Names.checkModel(request.model)
        let signature = try store.withPlaintext(of: staged) { try ModelSignature(onnxFile: $0) }
        switch request.servingConfig {
        case nil, .object?: break
        default: throw RegistryError.badInput("the serving configuration must be a JSON object")
        }
        let now = Date()
        return try db.write { s in
            let modelID: Int64
            if let id = try findModel(s, request.model) {
                if request.enforceOwner {
                    // Another tenant's model is answered as unknown, as everywhere else.
                    guard let owner = try s.row("SELECT tenant FROM model WHERE id = ?", [id])?.optionalString("tenant") else {
                        throw RegistryError.conflict("model '\(request.model)' has no owner tenant: an admin assigns one first (berth tenants assign)")
                    }
                    guard owner == request.tenant else { throw RegistryError.modelNotFound(request.model) }
                }
                modelID = id
            } else {
                modelID = try s.insertReturningID("INSERT INTO model (name, created_at, created_by, tenant) VALUES (?, ?, ?, ?)",
                                                  [request.model, now.timeIntervalSince1970, request.actor, request.tenant])
            }
            if let d = request.description {
                try s.execute("UPDATE model SET description = ? WHERE id = ?", [d, modelID])
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
            // Writes run one at a time (see RegistryTransactions), so read-then-bump is safe.
            let number = try s.int("SELECT next_version FROM model WHERE id = ?", [modelID]) ?? 1
            try s.execute("UPDATE model SET next_version = ? WHERE id = ?", [number + 1, modelID])
            try s.execute("""
                INSERT INTO version (model_id, version, sha256, size, signature, metrics, parent, training_data_digest,
                                     params, tags, serving_config, created_at, created_by, artifact_signature)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [modelID, number, staged.sha256, staged.size, try Self.json(signature), try Self.json(request.metrics),
                      request.parent, request.trainingDataDigest, try Self.json(request.params), try Self.json(request.tags),
                      try request.servingConfig.map(Self.json), now.timeIntervalSince1970, request.actor,
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
    private func signatureReference(_ s: any RegistrySQL, _ modelID: Int64) throws -> (version: Int, signature: ModelSignature)? {
        guard let row = try s.row("""
            SELECT v.version, v.signature FROM version v
            LEFT JOIN alias a ON a.model_id = v.model_id AND a.version = v.version AND a.name = 'production'
            WHERE v.model_id = ? ORDER BY (a.name IS NOT NULL) DESC, v.version DESC LIMIT 1
            """, [modelID]) else { return nil }
        return (try row.int("version"), try Self.decode(ModelSignature.self, try row.string("signature")))
    }

    // MARK: Reads

    func models() throws -> [ModelRecord] {
        try db.read { s in try s.rows("SELECT * FROM model ORDER BY name", []).map { try modelRecord(s, $0) } }
    }

    func model(_ name: String) throws -> ModelRecord {
        try db.read { s in
            guard let row = try s.row("SELECT * FROM model WHERE name = ?", [name]) else { throw RegistryError.modelNotFound(name) }
            return try modelRecord(s, row)
        }
    }

    func versions(of model: String) throws -> [VersionRecord] {
        try db.read { s in
            let id = try requireModel(s, model)
            let aliases = try aliasesByVersion(s, id)
            return try s.rows("SELECT * FROM version WHERE model_id = ? ORDER BY version", [id])
                .map { try versionRecord($0, model: model, aliases: aliases) }
        }
    }

    func version(_ model: String, _ ref: VersionRef) throws -> VersionRecord {
        try db.read { s in
            let id = try requireModel(s, model)
            let number = try resolve(s, id, model, ref)
            guard let row = try versionRow(s, id, number) else { throw RegistryError.versionNotFound(model: model, version: number) }
            return try versionRecord(row, model: model, aliases: try aliasesByVersion(s, id))
        }
    }

    func history(_ model: String, alias: String?) throws -> [RegistryEvent] {
        try db.read { s in
            let id = try requireModel(s, model)
            let rows = try alias.map { try s.rows("SELECT * FROM event WHERE model_id = ? AND alias = ? ORDER BY id", [id, $0]) }
                ?? s.rows("SELECT * FROM event WHERE model_id = ? ORDER BY id", [id])
            return try rows.map { try Self.event($0, model: model) }
        }
    }

    func traffic(_ model: String) throws -> TrafficPolicy {
        try db.read { s in try trafficPolicy(s, try requireModel(s, model), model) }
    }

    func deployments() throws -> [Deployment] {
        try db.read { s in
            var out: [Deployment] = []
            for row in try s.rows("SELECT id, name FROM model ORDER BY name", []) {
                let id = try row.int64("id")
                let name = try row.string("name")
                let aliases = try s.rows("""
                    SELECT a.name, a.version, v.sha256, v.serving_config FROM alias a
                    JOIN version v ON v.model_id = a.model_id AND v.version = a.version
                    WHERE a.model_id = ?
                    """, [id])
                guard !aliases.isEmpty else { continue }
                var versions: [Int: String] = [:]
                var configs: [Int: JSONNode] = [:]
                var production: Int?
                for a in aliases {
                    let v = try a.int("version")
                    versions[v] = try a.string("sha256")
                    if let text = try a.optionalString("serving_config") { configs[v] = try Self.decode(JSONNode.self, text) }
                    if try a.string("name") == "production" { production = v }
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

    // MARK: Aliases

    func setAlias(_ model: String, _ alias: String, version: Int, change: Change) throws -> RegistryEvent {
        try moveAlias(model, alias, to: version, action: .alias, change: change)
    }

    func removeAlias(_ model: String, _ alias: String, change: Change) throws -> RegistryEvent {
        try db.write { s in
            let id = try requireModel(s, model)
            guard let current = try currentAlias(s, id, alias) else { throw RegistryError.aliasNotFound(model: model, alias: alias) }
            try s.execute("DELETE FROM alias WHERE model_id = ? AND name = ?", [id, alias])
            return try recordChange(s, id, model, .unalias, alias: alias, from: current, to: nil, change: change)
        }
    }

    func checkPromotion(_ model: String, version: Int, gates: [Gate], alias: String) throws {
        try Names.checkAlias(alias)
        try db.read { s in
            let id = try requireModel(s, model)
            guard let row = try versionRow(s, id, version) else { throw RegistryError.versionNotFound(model: model, version: version) }
            try Self.checkGates(row, model, version: version, gates: gates)
        }
    }

    func promote(_ model: String, version: Int, gates: [Gate], alias: String, change: Change) throws -> RegistryEvent {
        try moveAlias(model, alias, to: version, action: .promote, change: change) { row in
            try Self.checkGates(row, model, version: version, gates: gates)
        }
    }

    func rollbackTarget(_ model: String, alias: String) throws -> Int {
        try db.read { s in try rollbackTarget(s, try requireModel(s, model), model, alias) }
    }

    func rollback(_ model: String, alias: String, change: Change) throws -> RegistryEvent {
        try db.write { s in
            let id = try requireModel(s, model)
            let target = try rollbackTarget(s, id, model, alias)
            return try pointAlias(s, id, model, alias, from: try currentAlias(s, id, alias), to: target, action: .rollback, change: change)
        }
    }

    /// Points `alias` at an existing `version` after `check` accepted the version's row.
    private func moveAlias(_ model: String, _ alias: String, to version: Int, action: RegistryEvent.Action, change: Change,
                           check: ((SQLRow) throws -> Void)? = nil) throws -> RegistryEvent {
        try Names.checkAlias(alias)
        return try db.write { s in
            let id = try requireModel(s, model)
            guard let row = try versionRow(s, id, version) else { throw RegistryError.versionNotFound(model: model, version: version) }
            try check?(row)
            let from = try currentAlias(s, id, alias)
            if from == version { throw RegistryError.conflict("alias '\(alias)' of '\(model)' already points at version \(version)") }
            return try pointAlias(s, id, model, alias, from: from, to: version, action: action, change: change)
        }
    }

    /// Writes the alias row and records the move.
    private func pointAlias(_ s: any RegistrySQL, _ id: Int64, _ model: String, _ alias: String, from: Int?, to version: Int,
                            action: RegistryEvent.Action, change: Change) throws -> RegistryEvent {
        try s.execute("""
            INSERT INTO alias (model_id, name, version) VALUES (?, ?, ?)
            ON CONFLICT (model_id, name) DO UPDATE SET version = excluded.version
            """, [id, alias, version])
        return try recordChange(s, id, model, action, alias: alias, from: from, to: version, change: change)
    }

    private static func checkGates(_ row: SQLRow, _ model: String, version: Int, gates: [Gate]) throws {
        guard !gates.isEmpty else { return }
        let metrics = try decode([String: Double].self, try row.string("metrics"))
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
    private func rollbackTarget(_ s: any RegistrySQL, _ id: Int64, _ model: String, _ alias: String) throws -> Int {
        guard let current = try currentAlias(s, id, alias) else { throw RegistryError.aliasNotFound(model: model, alias: alias) }
        var stack: [Int] = []
        for row in try s.rows("SELECT action, to_version FROM event WHERE model_id = ? AND alias = ? ORDER BY id", [id, alias]) {
            let action = RegistryEvent.Action(rawValue: try row.string("action"))
            let to = try row.optionalInt("to_version")
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

    // MARK: Delete, traffic, signatures

    func deleteVersion(_ model: String, _ version: Int, change: Change) throws -> RegistryEvent {
        let (event, unreferenced) = try db.write { s -> (RegistryEvent, String?) in
            let id = try requireModel(s, model)
            guard let row = try versionRow(s, id, version) else { throw RegistryError.versionNotFound(model: model, version: version) }
            let aliases = try s.rows("SELECT name FROM alias WHERE model_id = ? AND version = ? ORDER BY name", [id, version])
                .map { try $0.string("name") }
            if !aliases.isEmpty {
                throw RegistryError.conflict("version \(version) of '\(model)' is aliased as \(aliases.joined(separator: ", ")); "
                                             + "move the alias\(aliases.count > 1 ? "es" : "") first")
            }
            let sha = try row.string("sha256")
            try s.execute("DELETE FROM version WHERE model_id = ? AND version = ?", [id, version])
            let e = try recordChange(s, id, model, .delete, alias: nil, from: version, to: nil, change: change)
            let shared = try s.int("SELECT COUNT(*) FROM version WHERE sha256 = ?", [sha]) ?? 0
            return (e, shared == 0 ? sha : nil)
        }
        // Only after the commit: a failed commit must not leave a version without its file (if the
        // process dies first, the next open removes the unreferenced file).
        if let unreferenced { store.remove(sha256: unreferenced) }
        return event
    }

    func setTraffic(_ model: String, _ policy: TrafficPolicy, change: Change) throws -> TrafficPolicy {
        for split in [policy.canary, policy.shadow].compactMap({ $0 }) {
            try Names.checkAlias(split.alias)
            guard split.percent.isFinite, (0...100).contains(split.percent) else {
                throw RegistryError.badInput("a traffic percentage must be between 0 and 100, got \(split.percent)")
            }
        }
        if policy.canary?.alias == "production" || policy.shadow?.alias == "production" {
            throw RegistryError.badInput("the canary and shadow must be aliases other than 'production'")
        }
        return try db.write { s in
            let id = try requireModel(s, model)
            for split in [policy.canary, policy.shadow].compactMap({ $0 }) where try currentAlias(s, id, split.alias) == nil {
                throw RegistryError.aliasNotFound(model: model, alias: split.alias)
            }
            try s.execute("""
                INSERT INTO traffic (model_id, canary_alias, canary_percent, shadow_alias, shadow_percent) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (model_id) DO UPDATE SET canary_alias = excluded.canary_alias, canary_percent = excluded.canary_percent,
                    shadow_alias = excluded.shadow_alias, shadow_percent = excluded.shadow_percent
                """, [id, policy.canary?.alias, policy.canary?.percent ?? 0, policy.shadow?.alias, policy.shadow?.percent ?? 0])
            var why = change
            if why.reason.isEmpty { why.reason = Self.describe(policy) }
            try recordChange(s, id, model, .traffic, alias: nil, from: nil, to: nil, change: why)
            return try trafficPolicy(s, id, model)
        }
    }

    static func describe(_ p: TrafficPolicy) -> String {
        func part(_ kind: String, _ s: TrafficPolicy.Split?) -> String {
            s.map { "\(kind) \($0.alias) \($0.percent)%" } ?? "no \(kind)"
        }
        return part("canary", p.canary) + ", " + part("shadow", p.shadow)
    }

    func setArtifactSignature(_ model: String, _ version: Int, _ signature: ArtifactSignature, change: Change) throws -> VersionRecord {
        try db.write { s in
            let id = try requireModel(s, model)
            let changed = try s.execute("UPDATE version SET artifact_signature = ? WHERE model_id = ? AND version = ?",
                                        [signature.text, id, version])
            guard changed > 0 else { throw RegistryError.versionNotFound(model: model, version: version) }
            var why = change
            if why.reason.isEmpty { why.reason = "signed by key \(signature.keyID)" }
            try recordChange(s, id, model, .sign, alias: nil, from: nil, to: version, change: why)
        }
        return try self.version(model, .number(version))
    }

    // MARK: Rows

    private func findModel(_ s: any RegistrySQL, _ name: String) throws -> Int64? {
        try s.row("SELECT id FROM model WHERE name = ?", [name]).map { try $0.int64("id") }
    }

    func requireModel(_ s: any RegistrySQL, _ name: String) throws -> Int64 {
        guard let id = try findModel(s, name) else { throw RegistryError.modelNotFound(name) }
        return id
    }

    private func versionRow(_ s: any RegistrySQL, _ id: Int64, _ version: Int) throws -> SQLRow? {
        try s.row("SELECT * FROM version WHERE model_id = ? AND version = ?", [id, version])
    }

    private func currentAlias(_ s: any RegistrySQL, _ id: Int64, _ alias: String) throws -> Int? {
        try s.int("SELECT version FROM alias WHERE model_id = ? AND name = ?", [id, alias])
    }

    private func resolve(_ s: any RegistrySQL, _ id: Int64, _ model: String, _ ref: VersionRef) throws -> Int {
        switch ref {
        case let .number(n): return n
        case let .alias(a):
            guard let v = try currentAlias(s, id, a) else { throw RegistryError.aliasNotFound(model: model, alias: a) }
            return v
        }
    }

    private func aliasesByVersion(_ s: any RegistrySQL, _ id: Int64) throws -> [Int: [String]] {
        var out: [Int: [String]] = [:]
        for row in try s.rows("SELECT name, version FROM alias WHERE model_id = ? ORDER BY name", [id]) {
            out[try row.int("version"), default: []].append(try row.string("name"))
        }
        return out
    }

    private func modelRecord(_ s: any RegistrySQL, _ row: SQLRow) throws -> ModelRecord {
        let id = try row.int64("id")
        var aliases: [String: Int] = [:]
        for (v, names) in try aliasesByVersion(s, id) { for n in names { aliases[n] = v } }
        return ModelRecord(name: try row.string("name"), description: try row.string("description"),
                           tags: try Self.decode([String: String].self, try row.string("tags")),
                           latestVersion: try s.int("SELECT MAX(version) FROM version WHERE model_id = ?", [id]),
                           aliases: aliases, createdAt: Date(timeIntervalSince1970: try row.double("created_at")),
                           createdBy: try row.string("created_by"), tenant: try row.optionalString("tenant"))
    }

    private func versionRecord(_ row: SQLRow, model: String, aliases: [Int: [String]]) throws -> VersionRecord {
        let number = try row.int("version")
        return VersionRecord(model: model, version: number, sha256: try row.string("sha256"), size: try row.int64("size"),
                             signature: try Self.decode(ModelSignature.self, try row.string("signature")),
                             metrics: try Self.decode([String: Double].self, try row.string("metrics")), parent: try row.optionalInt("parent"),
                             trainingDataDigest: try row.optionalString("training_data_digest"),
                             params: try Self.decode([String: String].self, try row.string("params")),
                             tags: try Self.decode([String: String].self, try row.string("tags")),
                             servingConfig: try row.optionalString("serving_config").map { try Self.decode(JSONNode.self, $0) },
                             aliases: aliases[number] ?? [],
                             createdAt: Date(timeIntervalSince1970: try row.double("created_at")), createdBy: try row.string("created_by"),
                             artifactSignature: try row.optionalString("artifact_signature").map { try ArtifactSignature(text: $0) })
    }

    private func trafficPolicy(_ s: any RegistrySQL, _ id: Int64, _ model: String) throws -> TrafficPolicy {
        var policy = TrafficPolicy(model: model)
        guard let row = try s.row("SELECT * FROM traffic WHERE model_id = ?", [id]) else { return policy }
        func split(_ aliasColumn: String, _ percentColumn: String) throws -> TrafficPolicy.Split? {
            guard let alias = try row.optionalString(aliasColumn) else { return nil }
            return TrafficPolicy.Split(alias: alias, percent: try row.double(percentColumn), version: try currentAlias(s, id, alias))
        }
        policy.canary = try split("canary_alias", "canary_percent")
        policy.shadow = try split("shadow_alias", "shadow_percent")
        return policy
    }

    /// Appends a change to the history and bumps the revision servers poll (on PostgreSQL its
    /// trigger also NOTIFYs the replicas): every write does both.
    @discardableResult
    func recordChange(_ s: any RegistrySQL, _ id: Int64, _ model: String, _ action: RegistryEvent.Action, alias: String?,
                      from: Int?, to: Int?, change: Change, at: Date = Date()) throws -> RegistryEvent {
        let eventID = try s.insertReturningID("""
            INSERT INTO event (model_id, action, alias, from_version, to_version, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [id, action.rawValue, alias, from, to, change.actor, change.reason, at.timeIntervalSince1970])
        try s.execute("UPDATE revision SET value = value + 1 WHERE id = 1", [])
        return RegistryEvent(id: eventID, model: model, action: action, alias: alias, from: from, to: to,
                             actor: change.actor, reason: change.reason, at: at)
    }

    private static func event(_ row: SQLRow, model: String) throws -> RegistryEvent {
        RegistryEvent(id: try row.int64("id"), model: model, action: RegistryEvent.Action(rawValue: try row.string("action")) ?? .alias,
                      alias: try row.optionalString("alias"), from: try row.optionalInt("from_version"), to: try row.optionalInt("to_version"),
                      actor: try row.string("actor"), reason: try row.string("reason"), at: Date(timeIntervalSince1970: try row.double("at")))
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
