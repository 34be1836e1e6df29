import GRDB

extension SQLiteRegistry {
    /// The migrations applied to the database, in order (opening the registry applies them all).
    public func appliedMigrations() throws -> [String] {
        try read { db in try Self.migrator.appliedMigrations(db) }
    }

    /// The schema, one migration per change; GRDB records which ran.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: models, versions, aliases, history, traffic") { db in
            try db.execute(sql: """
                CREATE TABLE model (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    description TEXT NOT NULL DEFAULT '',
                    tags TEXT NOT NULL DEFAULT '{}',
                    next_version INTEGER NOT NULL DEFAULT 1,
                    created_at REAL NOT NULL,
                    created_by TEXT NOT NULL
                );
                CREATE TABLE version (
                    model_id INTEGER NOT NULL REFERENCES model(id),
                    version INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    signature TEXT NOT NULL,
                    metrics TEXT NOT NULL DEFAULT '{}',
                    parent INTEGER,
                    training_data_digest TEXT,
                    params TEXT NOT NULL DEFAULT '{}',
                    tags TEXT NOT NULL DEFAULT '{}',
                    created_at REAL NOT NULL,
                    created_by TEXT NOT NULL,
                    PRIMARY KEY (model_id, version)
                );
                CREATE INDEX version_sha256 ON version(sha256);
                CREATE TABLE alias (
                    model_id INTEGER NOT NULL REFERENCES model(id),
                    name TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    PRIMARY KEY (model_id, name),
                    FOREIGN KEY (model_id, version) REFERENCES version(model_id, version)
                );
                CREATE TABLE event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    model_id INTEGER NOT NULL REFERENCES model(id),
                    action TEXT NOT NULL,
                    alias TEXT,
                    from_version INTEGER,
                    to_version INTEGER,
                    actor TEXT NOT NULL,
                    reason TEXT NOT NULL DEFAULT '',
                    at REAL NOT NULL
                );
                CREATE INDEX event_model ON event(model_id, id);
                -- The history is an audit log: nothing may rewrite it.
                CREATE TRIGGER event_no_update BEFORE UPDATE ON event
                    BEGIN SELECT RAISE(ABORT, 'the registry history is append-only'); END;
                CREATE TRIGGER event_no_delete BEFORE DELETE ON event
                    BEGIN SELECT RAISE(ABORT, 'the registry history is append-only'); END;
                CREATE TABLE traffic (
                    model_id INTEGER PRIMARY KEY REFERENCES model(id),
                    canary_alias TEXT,
                    canary_percent REAL NOT NULL DEFAULT 0,
                    shadow_alias TEXT,
                    shadow_percent REAL NOT NULL DEFAULT 0
                );
                -- Bumped by every write, so servers notice changes with one cheap read.
                CREATE TABLE revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
                INSERT INTO revision (id, value) VALUES (1, 0);
                """)
        }
        m.registerMigration("v2: serving configuration per version") { db in
            // NULL: the server's defaults. Older registries gain the column with every version at NULL.
            try db.execute(sql: "ALTER TABLE version ADD COLUMN serving_config TEXT")
        }
        m.registerMigration("v3: keys, tenants, quotas, audit") { db in
            try db.execute(sql: """
                -- The tenant whose key first pushed the model; NULL: pushed without authentication.
                ALTER TABLE model ADD COLUMN tenant TEXT;
                -- An Ed25519 signature over the artifact's digest, KEYID:BASE64; NULL: unsigned.
                ALTER TABLE version ADD COLUMN artifact_signature TEXT;
                -- Keys are stored as SHA-256 hashes: the secret is shown once, at creation.
                CREATE TABLE api_key (
                    id TEXT PRIMARY KEY,
                    hash TEXT NOT NULL UNIQUE,
                    tenant TEXT NOT NULL,
                    role TEXT NOT NULL,
                    models TEXT NOT NULL DEFAULT '*',
                    description TEXT NOT NULL DEFAULT '',
                    created_at REAL NOT NULL,
                    expires_at REAL,
                    revoked_at REAL
                );
                CREATE TABLE tenant_quota (
                    tenant TEXT NOT NULL,
                    model TEXT NOT NULL DEFAULT '*',
                    requests_per_second REAL,
                    rows_per_second REAL,
                    max_concurrent INTEGER,
                    weight REAL NOT NULL DEFAULT 1,
                    PRIMARY KEY (tenant, model)
                );
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    key_id TEXT,
                    tenant TEXT,
                    role TEXT,
                    action TEXT NOT NULL,
                    target TEXT,
                    status INTEGER NOT NULL,
                    source TEXT NOT NULL
                );
                CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        }
        return m
    }
}
