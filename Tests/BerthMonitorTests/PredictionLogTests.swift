import BerthEval
@testable import BerthMonitor
import BerthTensor
import XCTest

/// The prediction log: batched writes, feedback joins, retention, masking, and live metrics.
final class PredictionLogTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-log-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func record(_ id: String, version: String = "1", x: [Float], labels: [Int64], time: Date = Date()) throws -> PredictionRecord {
        PredictionRecord(id: id, time: time, model: "m", version: version, route: "production", transport: "rest", rows: labels.count,
                         latencyMs: 1.5, inputs: [("x", try Tensor(shape: [labels.count, x.count / labels.count], values: x))],
                         outputs: [("label", try Tensor(shape: [labels.count], values: labels))])
    }

    func testAppendFeedbackAndMetrics() throws {
        let log = try PredictionLog(directory: dir)
        log.append(try record("a", x: [1, 2], labels: [1]))
        log.append(try record("b", x: [3, 4, 5, 6], labels: [0, 1]))
        log.append(try record("c", x: [7, 8], labels: [1]))
        let result = try log.attach(model: "m", [
            Feedback(id: "a", labels: [.number(1)]), Feedback(id: "b", labels: [.number(0), .number(0)]),
            Feedback(id: "zz", labels: [.number(1)]), Feedback(id: "c", labels: [.number(1), .number(1)]),
        ])
        XCTAssertEqual(result.accepted, 2)
        XCTAssertEqual(result.unknown, ["zz"])
        XCTAssertEqual(result.rejected.map(\.id), ["c"])
        let labelled = try log.labelled(model: "m", version: "1", rows: 100)
        XCTAssertEqual(labelled.count, 2)
        // Truth 1, 0, 0 against predictions 1, 0, 1: accuracy 2/3; macro F1 = (F1(0) 2/3 + F1(1) 2/3) / 2.
        let p = try XCTUnwrap(RealizedPerformance.compute(labelled, window: 100))
        XCTAssertEqual(p.samples, 3)
        XCTAssertEqual(p.accuracy!, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(p.f1Macro!, 2.0 / 3, accuracy: 1e-12)
        // The window keeps the newest rows only.
        let newest = try XCTUnwrap(RealizedPerformance.compute(labelled, window: 1))
        XCTAssertEqual(newest.samples, 1)
        let records = try log.records(model: "m")
        XCTAssertEqual(records.map(\.id), ["a", "b", "c"])
        XCTAssertEqual(records[1].outcome, .classes([.number(0), .number(1)], scores: nil))
        XCTAssertTrue(records[0].inputs.contains("\"data\":[1,2]") || records[0].inputs.contains("\"data\":[1.0,2.0]"), records[0].inputs)
    }

    func testRetentionByCountAndAge() throws {
        var settings = PredictionLogSettings(maxRows: 3, maxAge: 3600)
        settings.flushInterval = 10  // only explicit flushes
        let log = try PredictionLog(directory: dir, settings: settings)
        let now = Date()
        log.append(try record("old", x: [0], labels: [0], time: now.addingTimeInterval(-7200)))
        for i in 0..<5 { log.append(try record("r\(i)", x: [Float(i)], labels: [0], time: now)) }
        log.flush()
        try log.applyRetention(now: now)
        XCTAssertEqual(try log.records(model: "m").map(\.id), ["r2", "r3", "r4"])
    }

    func testMaskingDropsAndHashes() throws {
        let masking = try LogMasking(parsing: ["ssn=drop", "email=hash"])
        let inputs: [(name: String, tensor: Tensor)] = [
            ("ssn", try Tensor(shape: [1], values: ["123-45-6789"])), ("email", try Tensor(shape: [2], values: ["a@x", "a@x"])),
            ("age", try Tensor(shape: [1], values: [Float(41)])),
        ]
        let out = masking.apply(inputs)
        XCTAssertEqual(out.map(\.name), ["email", "age"])
        let digests = try out[0].tensor.values(String.self)
        XCTAssertEqual(digests[0], digests[1], "equal values hash equal")
        XCTAssertEqual(digests[0].count, 16)
        XCTAssertFalse(digests[0].contains("@"))
        XCTAssertThrowsError(try LogMasking(parsing: ["ssn=encrypt"]))
        XCTAssertThrowsError(try LogMasking(parsing: ["ssn=drop", "ssn=keep"]))
    }

    func testOutcomeFromOutputs() throws {
        let probs = try Tensor(shape: [2, 2], values: [Float(0.9), 0.1, 0.2, 0.8])
        XCTAssertEqual(RowOutcome.read([("label", try Tensor(shape: [2], values: [Int64(0), 1])), ("probabilities", probs)]),
                       .classes([.number(0), .number(1)], scores: [Double(Float(0.1)), Double(Float(0.8))]))
        XCTAssertEqual(RowOutcome.read([("logits", try Tensor(shape: [2, 3], values: [Float(0), 2, 1, 5, 0, 0]))]),
                       .classes([.number(1), .number(0)], scores: nil))
        XCTAssertEqual(RowOutcome.read([("variable", try Tensor(shape: [2, 1], values: [Float(1.5), -2]))]), .values([1.5, -2]))
        XCTAssertEqual(RowOutcome.read([("embedding", try Tensor(shape: [2, 3, 4], values: [Float](repeating: 0, count: 24)))]), .unknown)
    }

    func testRequestWindowSummary() {
        let w = RequestWindow()
        let now = Date()
        for i in 1...100 { w.record(model: "m", latencyMs: Double(i), failed: false, at: now) }
        for _ in 0..<25 { w.record(model: "m", latencyMs: 1, failed: true, at: now) }
        w.record(model: "m", latencyMs: 1000, failed: false, at: now.addingTimeInterval(-120))
        let s = w.summary(model: "m", seconds: 60, now: now)
        XCTAssertEqual(s.requests, 125)
        XCTAssertEqual(s.errorRate!, 0.2, accuracy: 1e-12)
        XCTAssertEqual(s.p50LatencyMs, 50)
        XCTAssertEqual(s.p99LatencyMs, 99)
        XCTAssertEqual(s.requestRate, 125.0 / 60, accuracy: 1e-12)
    }
}

extension PredictionLogTests {
    /// A writer that falls behind drops records beyond the memory budget instead of growing.
    func testPendingRecordsAreBoundedInBytes() throws {
        var settings = PredictionLogSettings()
        settings.flushInterval = 30  // nothing is written during the test
        settings.maxPendingBytes = 10_000
        let log = try PredictionLog(directory: dir, settings: settings)
        let big = [Float](repeating: 1, count: 500)  // ≈ 4 KB a record
        for i in 0..<5 { log.append(try record("r\(i)", x: big, labels: [0])) }
        XCTAssertEqual(log.dropped, 3)
        XCTAssertEqual(try log.records(model: "m").map(\.id), ["r0", "r1"])
    }
}
