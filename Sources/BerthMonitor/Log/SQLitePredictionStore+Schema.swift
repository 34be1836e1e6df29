import GRDB

extension SQLitePredictionStore {
    /// One table of requests; labels are filled in by feedback. `seq` orders records as written.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE prediction (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL,
                    time REAL NOT NULL,
                    model TEXT NOT NULL,
                    version TEXT NOT NULL,
                    route TEXT,
                    transport TEXT NOT NULL,
                    rows INTEGER NOT NULL,
                    latency_ms REAL NOT NULL,
                    inputs TEXT NOT NULL,
                    outputs TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    labels TEXT,
                    label_time REAL
                );
                CREATE INDEX prediction_by_id ON prediction(model, id);
                CREATE INDEX prediction_by_time ON prediction(model, version, time);
                CREATE INDEX prediction_by_label ON prediction(model, version, label_time) WHERE labels IS NOT NULL;
                """)
        }
        return m
    }
}
