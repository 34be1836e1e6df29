import BerthEngine
@testable import BerthServer
import Foundation
import Logging
import XCTest

final class ModelManagerTests: XCTestCase {
    /// A manager and the repository source that feeds it.
    private func makeManager(_ root: URL) -> (ModelManager, RepositorySource) {
        var logger = Logger(label: "berth.test")
        logger.logLevel = .warning
        let manager = ModelManager(repository: ModelRepository(root: root), logger: logger)
        return (manager, RepositorySource(repository: ModelRepository(root: root), manager: manager, logger: logger))
    }

    private func state(_ m: ModelManager, _ model: String, _ version: Int) -> ModelState? {
        m.index().first { $0.name == model && $0.version == version }?.state
    }

    /// TF Serving's drain: an unload waits for the requests holding the version, and removes the
    /// version's metric series only after the last of them recorded its own.
    func testUnloadDrainsRequestsInFlightThenRemovesSeries() async throws {
        let root = try ServerHarness.makeRepository(models: ["digits": [1]])
        defer { try? FileManager.default.removeItem(at: root) }
        let (m, source) = makeManager(root)
        try await source.load("digits")
        let s = try m.acquire(model: "digits", version: nil)
        XCTAssertEqual(s.requestsInFlight, 1)
        let unload = Task { try await source.unload("digits") }
        let unloading = try await ServerHarness.eventually(10) { self.state(m, "digits", 1) == .unloading }
        XCTAssertTrue(unloading, "the unload waits while a request holds the version")
        XCTAssertThrowsError(try m.acquire(model: "digits", version: nil), "new requests no longer get it")
        XCTAssertFalse(s.acquire(), "a draining servable takes no new request")
        // The request in flight still runs and records its metrics.
        let out = try await s.batcher.submit(try s.session.sampleInputs(batch: 1))
        XCTAssertNotNil(out.outputs["probabilities"])
        m.metrics.recordRequest(model: "digits", version: "1", success: true, reason: nil, rows: 1, requestSeconds: 0.001)
        XCTAssertTrue(m.metrics.exposition().contains(#"model="digits",version="1""#))
        s.release()
        try await unload.value
        XCTAssertEqual(state(m, "digits", 1), .unavailable)
        XCTAssertFalse(m.metrics.exposition().contains(#"model="digits""#), "the unloaded version's series are gone")
        await m.shutdown()
    }

    /// Nothing keeps an unloaded version's servable, batcher or session (weights) alive.
    func testUnloadReleasesTheServableAndItsSession() async throws {
        let root = try ServerHarness.makeRepository(models: ["digits": [1]])
        defer { try? FileManager.default.removeItem(at: root) }
        let (m, source) = makeManager(root)
        weak var servable: Servable?
        weak var session: Session?
        for _ in 0..<3 {
            try await source.load("digits")
            let s = try m.acquire(model: "digits", version: nil)
            _ = try await s.batcher.submit(try s.session.sampleInputs(batch: 1))
            s.release()
            servable = s
            session = s.session
            try await source.unload("digits")
        }
        // The batcher's worker threads let go of it just after they exit.
        let released = try await ServerHarness.eventually(10) { servable == nil && session == nil }
        XCTAssertTrue(released, "the unloaded servable and its session were freed")
    }

    func testVersionPolicyChangeRemovesSeriesOfTheDroppedVersionOnly() async throws {
        let root = try ServerHarness.makeRepository(models: ["digits": [1, 2]],
                                                    configs: ["digits": #"{"version_policy": "all"}"#])
        defer { try? FileManager.default.removeItem(at: root) }
        let (m, source) = makeManager(root)
        try await source.load("digits")
        XCTAssertEqual(try m.readyVersions(model: "digits"), [1, 2])
        for v in ["1", "2"] {
            m.metrics.recordRequest(model: "digits", version: v, success: true, reason: nil, rows: 1, requestSeconds: 0.001)
        }
        try Data(#"{"version_policy": {"specific": [2]}}"#.utf8)
            .write(to: root.appendingPathComponent("digits/config.json"))
        try await source.load("digits")
        XCTAssertEqual(try m.readyVersions(model: "digits"), [2])
        let text = m.metrics.exposition()
        XCTAssertFalse(text.contains(#"model="digits",version="1""#), "version 1 left service")
        XCTAssertTrue(text.contains(#"model="digits",version="2""#), "version 2 still serves")
        await m.shutdown()
    }

    func testOperationsOnUnknownModelsLeaveNothingBehind() async throws {
        let root = try ServerHarness.makeRepository(models: ["digits": [1]])
        defer { try? FileManager.default.removeItem(at: root) }
        let (m, source) = makeManager(root)
        for i in 0..<100 {
            do { try await source.load("nope\(i)"); XCTFail("loaded an unknown model") } catch {}
        }
        let chains = await m.operationChainCount
        XCTAssertEqual(chains, 0, "no per-name state for names clients make up")
        XCTAssertEqual(m.index().map(\.name), ["digits"])
    }

    /// The repository source offers a version once its files were unchanged between two polls; a
    /// version that fails to load never replaces a working one; a model removed from disk goes.
    func testPollOffersStableFilesOnlyAndKeepsServingOnFailure() async throws {
        let root = try ServerHarness.makeRepository(models: ["digits": [1]])
        defer { try? FileManager.default.removeItem(at: root) }
        let (m, source) = makeManager(root)
        await source.poll()
        XCTAssertNil(state(m, "digits", 1), "files seen once may still be being copied")
        await source.poll()
        XCTAssertEqual(state(m, "digits", 1), .ready)
        try ServerHarness.addVersion(root: root, model: "digits", version: 2, contents: Data("garbage".utf8))
        await source.poll()
        await source.poll()
        XCTAssertEqual(try m.readyVersions(model: "digits"), [1], "the broken version 2 does not replace version 1")
        XCTAssertEqual(state(m, "digits", 2), .unavailable)
        XCTAssertTrue(m.index().contains { $0.version == 2 && !$0.reason.isEmpty }, "the index says why version 2 failed")
        try FileManager.default.removeItem(at: root.appendingPathComponent("digits"))
        await source.poll()
        XCTAssertEqual(m.index().map(\.name), [], "a model removed from the repository is forgotten")
        XCTAssertThrowsError(try m.servable(model: "digits", version: nil)) { e in
            XCTAssertEqual((e as? ServerError)?.status, .notFound)
        }
        await m.shutdown()
    }
}
