/// The PostgreSQL schema: the same tables and the same named migrations as
/// ``SQLiteRegistry``'s, recorded in `schema_migrations`, plus the replicas table.
extension PostgresRegistry {
    /// One schema change, applied once, in order.
    struct Migration {
        var id: String
        var sql: String

        /// The statements of `sql`, one per `;` that ends a line (function bodies keep their
        /// inner `;` on the `$$` line), since a parameterised query runs one statement.
        var statements: [String] {
            sql.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }
                .filter { !$0.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") } }
        }
    }

    /// The notification channel every committed change announces its revision on.
    public static let changeChannel = "berth_registry"

    static let migrations: [Migration] = [
        Migration(id: "v1: models, versions, aliases, history, traffic", sql: """
            CREATE TABLE model (
                id BIGSERIAL PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                description TEXT NOT NULL DEFAULT '',
                tags TEXT NOT NULL DEFAULT '{}',
                next_version BIGINT NOT NULL DEFAULT 1,
                created_at DOUBLE PRECISION NOT NULL,
                created_by TEXT NOT NULL
            );
            CREATE TABLE version (
                model_id BIGINT NOT NULL REFERENCES model(id),
                version BIGINT NOT NULL,
                sha256 TEXT NOT NULL,
                size BIGINT NOT NULL,
                signature TEXT NOT NULL,
                metrics TEXT NOT NULL DEFAULT '{}',
                parent BIGINT,
                training_data_digest TEXT,
                params TEXT NOT NULL DEFAULT '{}',
                tags TEXT NOT NULL DEFAULT '{}',
                created_at DOUBLE PRECISION NOT NULL,
                created_by TEXT NOT NULL,
                PRIMARY KEY (model_id, version)
            );
            CREATE INDEX version_sha256 ON version(sha256);
            CREATE TABLE alias (
                model_id BIGINT NOT NULL REFERENCES model(id),
                name TEXT NOT NULL,
                version BIGINT NOT NULL,
                PRIMARY KEY (model_id, name),
                FOREIGN KEY (model_id, version) REFERENCES version(model_id, version)
            );
            CREATE TABLE event (
                id BIGSERIAL PRIMARY KEY,
                model_id BIGINT NOT NULL REFERENCES model(id),
                action TEXT NOT NULL,
                alias TEXT,
                from_version BIGINT,
                to_version BIGINT,
                actor TEXT NOT NULL,
                reason TEXT NOT NULL DEFAULT '',
                at DOUBLE PRECISION NOT NULL
            );
            CREATE INDEX event_model ON event(model_id, id);
            -- The history is an audit log: nothing may rewrite it, whoever connects.
            CREATE FUNCTION berth_refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'the registry history is append-only'; END $$;
            CREATE TRIGGER event_no_update BEFORE UPDATE OR DELETE ON event
                FOR EACH ROW EXECUTE FUNCTION berth_refuse_history_change();
            CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON event
                FOR EACH STATEMENT EXECUTE FUNCTION berth_refuse_history_change();
            CREATE TABLE traffic (
                model_id BIGINT PRIMARY KEY REFERENCES model(id),
                canary_alias TEXT,
                canary_percent DOUBLE PRECISION NOT NULL DEFAULT 0,
                shadow_alias TEXT,
                shadow_percent DOUBLE PRECISION NOT NULL DEFAULT 0
            );
            -- Bumped by every write, so servers notice changes with one cheap read; each bump is
            -- announced on the change channel (delivered at commit) to wake replicas at once.
            CREATE TABLE revision (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL);
            INSERT INTO revision (id, value) VALUES (1, 0);
            CREATE FUNCTION berth_notify_revision() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_notify('\(changeChannel)', NEW.value::text); RETURN NEW; END $$;
            CREATE TRIGGER revision_notify AFTER UPDATE ON revision
                FOR EACH ROW EXECUTE FUNCTION berth_notify_revision();
            """),
        Migration(id: "v2: serving configuration per version", sql: """
            ALTER TABLE version ADD COLUMN serving_config TEXT;
            """),
        Migration(id: "v3: keys, tenants, quotas, audit", sql: """
            ALTER TABLE model ADD COLUMN tenant TEXT;
            ALTER TABLE version ADD COLUMN artifact_signature TEXT;
            CREATE TABLE api_key (
                id TEXT PRIMARY KEY,
                hash TEXT NOT NULL UNIQUE,
                tenant TEXT NOT NULL,
                role TEXT NOT NULL,
                models TEXT NOT NULL DEFAULT '*',
                description TEXT NOT NULL DEFAULT '',
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION,
                revoked_at DOUBLE PRECISION
            );
            CREATE TABLE tenant_quota (
                tenant TEXT NOT NULL,
                model TEXT NOT NULL DEFAULT '*',
                requests_per_second DOUBLE PRECISION,
                rows_per_second DOUBLE PRECISION,
                max_concurrent BIGINT,
                weight DOUBLE PRECISION NOT NULL DEFAULT 1,
                PRIMARY KEY (tenant, model)
            );
            CREATE TABLE audit (
                id BIGSERIAL PRIMARY KEY,
                at DOUBLE PRECISION NOT NULL,
                key_id TEXT,
                tenant TEXT,
                role TEXT,
                action TEXT NOT NULL,
                target TEXT,
                status BIGINT NOT NULL,
                source TEXT NOT NULL
            );
            CREATE FUNCTION berth_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
            CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
                FOR EACH ROW EXECUTE FUNCTION berth_refuse_audit_change();
            CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
                FOR EACH STATEMENT EXECUTE FUNCTION berth_refuse_audit_change();
            """),
        Migration(id: "v4: replicas", sql: """
            -- Every serving replica's heartbeat: GET /api/v1/cluster lists the recent ones.
            CREATE TABLE replica (
                id TEXT PRIMARY KEY,
                address TEXT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                heartbeat_at DOUBLE PRECISION NOT NULL,
                revision BIGINT NOT NULL DEFAULT 0,
                loaded TEXT NOT NULL DEFAULT '[]'
            );
            """),
        Migration(id: "v5: monitoring state shared by replicas", sql: """
            -- The prediction log of every replica (BerthServer's PostgresPredictionStore): the same
            -- columns as the SQLite log, plus the replica that answered.
            CREATE TABLE prediction (
                seq BIGSERIAL PRIMARY KEY,
                id TEXT NOT NULL,
                time DOUBLE PRECISION NOT NULL,
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                route TEXT,
                transport TEXT NOT NULL,
                rows BIGINT NOT NULL,
                latency_ms DOUBLE PRECISION NOT NULL,
                inputs TEXT NOT NULL,
                outputs TEXT NOT NULL,
                outcome TEXT NOT NULL,
                labels TEXT,
                label_time DOUBLE PRECISION,
                replica TEXT
            );
            CREATE INDEX prediction_by_id ON prediction(model, id);
            CREATE INDEX prediction_by_time ON prediction(model, version, time);
            CREATE INDEX prediction_time ON prediction(time);
            CREATE INDEX prediction_by_label ON prediction(model, version, label_time) WHERE labels IS NOT NULL;
            -- Each alert rule's state as the leader last wrote it, so a new leader continues from it.
            CREATE TABLE alert_state (
                rule TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                replica TEXT NOT NULL
            );
            -- Every firing and resolution, in order.
            CREATE TABLE alert_event (
                id BIGSERIAL PRIMARY KEY,
                rule TEXT NOT NULL,
                model TEXT NOT NULL,
                transition TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
                value DOUBLE PRECISION,
                samples BIGINT NOT NULL,
                version TEXT,
                actions TEXT NOT NULL DEFAULT '[]',
                replica TEXT NOT NULL
            );
            """),
        Migration(id: "v6: reference samples shared by replicas", sql: """
            -- Each version's reference sample (BerthServer's PostgresReferenceStore): the CSV bytes,
            -- their description and SHA-256, which replicas compare to reuse their parsed copy.
            CREATE TABLE reference_sample (
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                rows BIGINT NOT NULL,
                columns TEXT NOT NULL,
                label TEXT,
                sha256 TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                csv BYTEA NOT NULL,
                PRIMARY KEY (model, version)
            );
            """),
        Migration(id: "v7: request counts shared by replicas", sql: """
            -- Each replica's requests per model and second (BerthServer's PostgresRequestCountStore):
            -- counts, failures and a sparse latency histogram, summed by the leader for the
            -- request-window alert rules (error rate, latency percentiles, request rate).
            CREATE TABLE request_count (
                replica TEXT NOT NULL,
                model TEXT NOT NULL,
                second BIGINT NOT NULL,
                requests BIGINT NOT NULL,
                failures BIGINT NOT NULL,
                latency_bucket INTEGER[] NOT NULL,
                latency_count BIGINT[] NOT NULL
            );
            CREATE INDEX request_count_by_model ON request_count(model, second);
            CREATE INDEX request_count_second ON request_count(second);
            """),
    ]

    /// Applies the migrations not yet recorded, each in its own transaction, under an advisory
    /// lock so that replicas starting together migrate once. Returns the ids it applied.
    @discardableResult
    func migrate() throws -> [String] {
        try pool.withConnection { s in
            try s.execute("SELECT pg_advisory_lock($1)", [Self.migrationLockKey])
            defer { _ = try? s.execute("SELECT pg_advisory_unlock($1)", [Self.migrationLockKey]) }
            try s.execute("CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            let done = Set(try s.query("SELECT id FROM schema_migrations").map { try $0.get("id", as: String.self) })
            var applied: [String] = []
            for m in Self.migrations where !done.contains(m.id) {
                try s.execute("BEGIN")
                do {
                    for statement in m.statements { try s.execute(statement) }
                    try s.execute("INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)", [m.id, Date().timeIntervalSince1970])
                    try s.execute("COMMIT")
                } catch {
                    _ = try? s.execute("ROLLBACK")
                    throw PostgresPool.describe(error, url: pool.url)
                }
                applied.append(m.id)
            }
            return applied
        }
    }

    /// Serialises migrations across replicas (session-level advisory lock key).
    static let migrationLockKey: Int64 = 0x6265_7274_686D_6967  // "berthmig"
}

import Foundation
