@testable import BerthRegistry
import Crypto
import Foundation
import GRDB
import Logging
import XCTest

/// Everything a registry shows, to check that a refused operation changed nothing.
struct RegistryState: Equatable {
    var models: [ModelRecord]
    var versions: [String: [VersionRecord]]
    var history: [String: [RegistryEvent]]
    var traffic: [String: TrafficPolicy]
    var revision: Int64
    /// Every file under the data directory except the database, by relative path, with its SHA-256.
    var files: [String: String]
}

/// Which database a registry test runs against.
enum RegistryTestBackend: Equatable {
    case sqlite
    /// A fresh database per test on the server of `BERTH_TEST_POSTGRES_URL`.
    case postgres
}

/// A fresh registry in its own temporary data directory per test: SQLite, or, when
/// `BERTH_TEST_POSTGRES_URL` names a PostgreSQL server (`scripts/postgres.sh start` prints one),
/// a fresh database on it per test. The same test bodies run on either; CI runs the registry
/// tests once without the variable and once with it (scripts/test.sh).
///
/// (Running both backends inside one process by invoking each test twice does not work with
/// swift-corelibs-xctest: a test case's tear-down sequence runs once per instance.)
class RegistryTestCase: XCTestCase {
    /// The test's scratch folder (removed in tearDown): `data/` is the registry, `inputs/` holds
    /// files to push.
    var scratch: URL!
    var dataDirectory: URL!
    var registry: (any RegistryStore)!
    /// The backend of this run.
    let backend: RegistryTestBackend = RegistryTestCase.postgresServer == nil ? .sqlite : .postgres
    /// The per-test PostgreSQL database (postgres runs only).
    private var testDatabaseURL: PostgresURL?

    /// The server the PostgreSQL runs use; nil: those runs are skipped (said once per process).
    static let postgresServer: PostgresURL? = {
        guard let text = ProcessInfo.processInfo.environment["BERTH_TEST_POSTGRES_URL"], !text.isEmpty else {
            return nil
        }
        guard let url = try? PostgresURL(text) else { fatalError("BERTH_TEST_POSTGRES_URL is not a postgres:// URL: \(text)") }
        return url
    }()

    override func setUpWithError() throws {
        try super.setUpWithError()
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("berth-registry-tests-\(UUID().uuidString)", isDirectory: true)
        dataDirectory = scratch.appendingPathComponent("data", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("inputs"), withIntermediateDirectories: true)
        if backend == .postgres, let server = Self.postgresServer {
            var url = server
            url.database = "berth_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
            try Self.admin(server) { try $0.execute("CREATE DATABASE \(url.database)") }
            testDatabaseURL = url
        }
        registry = try openRegistry()
    }

    override func tearDownWithError() throws {
        (registry as? PostgresRegistry)?.close()
        registry = nil
        if let url = testDatabaseURL, let server = Self.postgresServer {
            try? Self.admin(server) { try $0.execute("DROP DATABASE IF EXISTS \(url.database) WITH (FORCE)") }
            testDatabaseURL = nil
        }
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
        try super.tearDownWithError()
    }

    /// Opens another registry on the test's data directory (and database): a second process, or
    /// the same one after a restart.
    func openRegistry() throws -> any RegistryStore {
        if backend == .postgres, let url = testDatabaseURL {
            return try PostgresRegistry(url: url, dataDirectory: dataDirectory)
        }
        return try SQLiteRegistry(dataDirectory: dataDirectory)
    }

    /// Runs `sql` on a connection of its own, as anyone with database access could.
    func rawExecute(_ sql: String) throws {
        if backend == .postgres, let url = testDatabaseURL {
            try Self.admin(url) { try $0.execute(sql) }
        } else {
            let queue = try DatabaseQueue(path: dataDirectory.appendingPathComponent(SQLiteRegistry.databaseFileName).path)
            defer { try? queue.close() }
            try queue.write { db in try db.execute(sql: sql) }
        }
    }

    /// The integer `sql` selects, read on a connection of its own.
    func rawInt(_ sql: String) throws -> Int? {
        if backend == .postgres, let url = testDatabaseURL {
            return try Self.admin(url) { try $0.scalar(Int.self, sql) }
        }
        let queue = try DatabaseQueue(path: dataDirectory.appendingPathComponent(SQLiteRegistry.databaseFileName).path)
        defer { try? queue.close() }
        return try queue.read { db in try Int.fetchOne(db, sql: sql) }
    }

    /// Runs `body` on a short-lived connection to `url`.
    static func admin<T>(_ url: PostgresURL, _ body: (PostgresSession) throws -> T) throws -> T {
        let pool = PostgresPool(url: url, logger: Logger(label: "berth.tests.postgres"))
        defer { pool.shutdown() }
        return try pool.withConnection(body)
    }

    // MARK: Files

    /// Writes bytes to a new file outside the data directory.
    func inputFile(_ data: Data, name: String = UUID().uuidString + ".onnx") throws -> URL {
        let url = scratch.appendingPathComponent("inputs").appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    /// SHA-256, lower-case hex, computed here rather than by the registry.
    func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The expected artifact path, spelled out from the spec: `artifacts/sha256/ab/abcdef….onnx`.
    func expectedArtifactPath(_ sha: String) -> URL {
        dataDirectory.appendingPathComponent("artifacts").appendingPathComponent("sha256")
            .appendingPathComponent(String(sha.prefix(2))).appendingPathComponent("\(sha).onnx")
    }

    /// Regular files under `folder` of the data directory, as paths relative to the data directory.
    func files(under folder: String) -> [String] {
        let root = dataDirectory.appendingPathComponent(folder)
        guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        var out: [String] = []
        for case let url as URL in e where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            out.append(folder + "/" + url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1))
        }
        return out.sorted()
    }

    // MARK: Registry

    @discardableResult
    func push(_ model: String = "digits", _ data: Data = TestModels.bytes(), metrics: [String: Double] = [:],
              allowSignatureChange: Bool = false, actor: String = "ana", reason: String = "") throws -> VersionRecord {
        try registry.push(file: try inputFile(data),
                          PushRequest(model: model, metrics: metrics, allowSignatureChange: allowSignatureChange, actor: actor, reason: reason))
    }

    func state() throws -> RegistryState {
        let models = try registry.models()
        var versions: [String: [VersionRecord]] = [:]
        var history: [String: [RegistryEvent]] = [:]
        var traffic: [String: TrafficPolicy] = [:]
        for m in models {
            versions[m.name] = try registry.versions(of: m.name)
            history[m.name] = try registry.history(m.name, alias: nil)
            traffic[m.name] = try registry.traffic(m.name)
        }
        var files: [String: String] = [:]
        for f in self.files(under: "artifacts") + self.files(under: "tmp") {
            files[f] = sha256Hex(try Data(contentsOf: dataDirectory.appendingPathComponent(f)))
        }
        return RegistryState(models: models, versions: versions, history: history, traffic: traffic,
                             revision: try registry.revision(), files: files)
    }

    /// The error `body` throws, failing the test when it throws nothing or something other than a
    /// ``RegistryError``.
    func registryError<T>(_ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> RegistryError? {
        do {
            let value = try body()
            XCTFail("expected a RegistryError, got \(value)", file: file, line: line)
            return nil
        } catch let e as RegistryError {
            return e
        } catch {
            XCTFail("expected a RegistryError, got \(type(of: error)): \(error)", file: file, line: line)
            return nil
        }
    }
}
