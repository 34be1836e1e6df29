@testable import BerthRegistry
import Crypto
import Foundation
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

/// A fresh registry in its own temporary data directory per test.
class RegistryTestCase: XCTestCase {
    /// The test's scratch folder (removed in tearDown): `data/` is the registry, `inputs/` holds
    /// files to push.
    var scratch: URL!
    var dataDirectory: URL!
    var registry: SQLiteRegistry!

    override func setUpWithError() throws {
        try super.setUpWithError()
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("berth-registry-tests-\(UUID().uuidString)", isDirectory: true)
        dataDirectory = scratch.appendingPathComponent("data", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("inputs"), withIntermediateDirectories: true)
        registry = try SQLiteRegistry(dataDirectory: dataDirectory)
    }

    override func tearDownWithError() throws {
        registry = nil
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
        try super.tearDownWithError()
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
