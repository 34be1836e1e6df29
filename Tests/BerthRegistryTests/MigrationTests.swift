@testable import BerthRegistry
import Foundation
import GRDB
import XCTest

/// A registry written by an older Berth (schema v1 only) opens with the current code: the
/// migrator adds what is missing and every record survives.
final class MigrationTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-migration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func testVersion1DatabaseMigratesAndKeepsItsRecords() throws {
        // An old registry: only the first migration ran; one version was pushed and promoted.
        let model = TestModels.bytes(producer: "old")
        do {
            let old = try SQLiteRegistry(dataDirectory: directory)
            try old.pool.write { db in
                try db.execute(sql: "DROP TABLE grdb_migrations")
                try db.execute(sql: "DROP TABLE api_key; DROP TABLE tenant_quota; DROP TABLE audit")
                try db.execute(sql: "DROP TABLE traffic; DROP TABLE revision; DROP TABLE alias")
                try db.execute(sql: "DROP TRIGGER event_no_update; DROP TRIGGER event_no_delete; DROP TABLE event; DROP TABLE version; DROP TABLE model")
            }
            try SQLiteRegistry.migrator.migrate(old.pool, upTo: "v1: models, versions, aliases, history, traffic")
            let file = directory.appendingPathComponent("in.onnx")
            try model.write(to: file)
            // The old schema has no serving_config column: insert as the old code did.
            let staged = try old.store.stage(copying: file)
            try old.store.commit(staged)
            try old.pool.write { db in
                try db.execute(sql: "INSERT INTO model (name, created_at, created_by) VALUES ('digits', 0, 'ana')")
                let signature = try SQLiteRegistry.json(try ModelSignature(onnxFile: file))
                try db.execute(sql: """
                    INSERT INTO version (model_id, version, sha256, size, signature, created_at, created_by)
                    VALUES (1, 1, ?, ?, ?, 0, 'ana')
                    """, arguments: [staged.sha256, staged.size, signature])
                try db.execute(sql: "UPDATE model SET next_version = 2")
                try db.execute(sql: "INSERT INTO alias (model_id, name, version) VALUES (1, 'production', 1)")
            }
            let columns = try old.pool.read { db in try db.columns(in: "version").map(\.name) }
            XCTAssertFalse(columns.contains("serving_config"))
        }

        let registry = try SQLiteRegistry(dataDirectory: directory)
        let applied = try registry.pool.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }
        XCTAssertEqual(applied.count, 3)
        let v1 = try registry.version("digits", .alias("production"))
        XCTAssertEqual(v1.version, 1)
        XCTAssertNil(v1.servingConfig)
        XCTAssertNoThrow(try registry.artifact("digits", .number(1)))

        // New records use the new column.
        let file = directory.appendingPathComponent("in2.onnx")
        try TestModels.bytes(producer: "new").write(to: file)
        let config = JSONNode.object(["max_batch_size": .number(8)])
        let v2 = try registry.push(file: file, PushRequest(model: "digits", servingConfig: config, actor: "ana"))
        XCTAssertEqual(v2.version, 2)
        XCTAssertEqual(try registry.version("digits", .number(2)).servingConfig, config)
        XCTAssertEqual(try registry.deployments().first?.servingConfigs, [:], "only aliased versions are deployed")
        try registry.setAlias("digits", "staging", version: 2, change: Change(actor: "ana"))
        XCTAssertEqual(try registry.deployments().first?.servingConfigs, [2: config])
    }

    func testServingConfigMustBeAnObject() throws {
        let registry = try SQLiteRegistry(dataDirectory: directory)
        let file = directory.appendingPathComponent("in.onnx")
        try TestModels.bytes().write(to: file)
        XCTAssertThrowsError(try registry.push(file: file, PushRequest(model: "digits", servingConfig: .array([]), actor: "ana"))) {
            guard case .badInput = $0 as? RegistryError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try registry.models(), [])
    }
}
