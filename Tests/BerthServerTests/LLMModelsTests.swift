import BerthGenerate
@testable import BerthServer
import XCTest

/// Registry language-model versions in ``LLMModels``: a swap drains the old version only once
/// the requests holding it end (their sequences keep generating), the memory budget refuses a
/// load and keeps what serves, canary and shadow routes, and the shadow's text comparison.
final class LLMModelsTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../tests/python/fixtures/gguf").standardized

    private func source(_ name: String) -> VersionSource {
        VersionSource(fingerprint: name, locate: { Self.fixtures.appendingPathComponent(name + ".gguf") })
    }

    private func fileBytes(_ name: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: Self.fixtures.appendingPathComponent(name + ".gguf").path)[.size] as! Int
    }

    private func generate(_ s: LLMServable, tokens: Int) async -> (Int, FinishReason?) {
        var count = 0, reason: FinishReason?
        for await e in s.engine.generate(GenerationRequest(prompt: [1, 283, 315, 316], maxTokens: tokens)) {
            switch e {
            case .token: count += 1
            case .finished(let f): reason = f.reason
            case .failed(let f): XCTFail("\(f)")
            }
        }
        return (count, reason)
    }

    func testPromoteKeepsTheHeldVersionRunningUntilReleased() async throws {
        let llms = LLMModels(threads: 1, kvCacheBytes: 1 << 20)
        defer { llms.shutdown() }
        try await llms.deploy(DeployPlan(model: "chat", versions: [1: source("llama_q8_q4")], route: TrafficRoute(primary: 1)))
        let held = try llms.acquire("chat", key: nil)
        XCTAssertEqual(held.lease.servable.version, 1)
        try await llms.deploy(DeployPlan(model: "chat", versions: [2: source("llama_float")], route: TrafficRoute(primary: 2)))
        let next = try llms.acquire("chat", key: nil)
        XCTAssertEqual(next.lease.servable.version, 2)
        next.lease.release()
        XCTAssertThrowsError(try llms.acquire("chat@1", key: nil), "version 1 left the table")
        // The held version still generates after the switch: its engine stops only when released.
        let (count, reason) = await generate(held.lease.servable, tokens: 24)
        XCTAssertEqual(count, 24)
        XCTAssertEqual(reason, .length)
        let both = try fileBytes("llama_q8_q4") + fileBytes("llama_float") + 2 * (1 << 20)
        XCTAssertEqual(llms.residentBytes.withLock { $0 }, both)
        held.lease.release()
        for _ in 0..<250 where llms.residentBytes.withLock({ $0 }) == both { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertEqual(llms.residentBytes.withLock { $0 }, try fileBytes("llama_float") + (1 << 20))
    }

    func testBudgetRefusesALoadAndKeepsServing() async throws {
        let one = try fileBytes("llama_q8_q4") + (1 << 20)
        let llms = LLMModels(memoryBudget: one + 4096, threads: 1, kvCacheBytes: 1 << 20)
        defer { llms.shutdown() }
        try await llms.deploy(DeployPlan(model: "chat", versions: [1: source("llama_q8_q4")], route: TrafficRoute(primary: 1)))
        var staged = DeployPlan(model: "chat", versions: [1: source("llama_q8_q4"), 2: source("llama_float")], route: TrafficRoute(primary: 2))
        do {
            try await llms.deploy(staged)
            XCTFail("the second version does not fit")
        } catch let e as ServerError {
            XCTAssertTrue("\(e)".contains("--llm-memory-budget"), "\(e)")
        }
        let r = try llms.acquire("chat", key: nil)
        XCTAssertEqual(r.lease.servable.version, 1)
        r.lease.release()
        XCTAssertEqual(llms.residentBytes.withLock { $0 }, one)
        // A canary that cannot load is left out of the route; production keeps serving.
        staged.route = TrafficRoute(primary: 1, canary: .init(version: 2, percent: 100))
        do { try await llms.deploy(staged) } catch {}
        let again = try llms.acquire("chat", key: nil)
        XCTAssertEqual(again.lease.servable.version, 1)
        again.lease.release()
    }

    func testCanaryShadowAndVersionAddressing() async throws {
        let llms = LLMModels(threads: 1, kvCacheBytes: 1 << 20)
        defer { llms.shutdown() }
        try await llms.deploy(DeployPlan(model: "chat", versions: [1: source("llama_q8_q4"), 2: source("llama_float")],
                                         route: TrafficRoute(primary: 1, canary: .init(version: 2, percent: 50), shadow: .init(version: 2, percent: 100))))
        var sides = Set<Int>()
        for k in 0..<64 {
            let r = try llms.acquire("chat", key: "user-\(k)")
            sides.insert(r.lease.servable.version ?? 0)
            XCTAssertEqual(r.shadow?.servable.version, 2)
            let again = try llms.acquire("chat", key: "user-\(k)")
            XCTAssertEqual(again.lease.servable.version, r.lease.servable.version, "sticky by key")
            for x in [r, again] { x.lease.release(); x.shadow?.release() }
        }
        XCTAssertEqual(sides, [1, 2])
        let v2 = try llms.acquire("chat@2", key: nil)
        XCTAssertEqual(v2.lease.servable.version, 2)
        XCTAssertNil(v2.shadow)
        v2.lease.release()
        XCTAssertThrowsError(try llms.acquire("chat@3", key: nil))
        XCTAssertThrowsError(try llms.acquire("nope", key: nil))
        XCTAssertEqual(llms.listed.map(\.name), ["chat"])
    }

    func testShadowComparisonCountsOnceBothEnded() {
        let outcomes = Locked<[String]>([])
        func compare() -> LLMShadowCompare { LLMShadowCompare { o in outcomes.withLock { $0.append(o) } } }
        let a = compare(); a.shadow("same"); a.production("same")
        let b = compare(); b.production("one"); b.shadow("other")
        let c = compare(); c.production("x"); c.shadow(nil)
        let d = compare(); d.production(nil); d.shadow("y")
        let e = compare(); e.production("z")
        XCTAssertEqual(outcomes.withLock { $0 }, ["agree", "disagree", "error"])
    }
}
