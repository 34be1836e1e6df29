import BerthEval
@testable import BerthMonitor
import BerthRegistry
@testable import BerthServer
import BerthTensor
import Foundation
import Logging
import XCTest

/// The prediction log and the alert states on PostgreSQL (`BERTH_TEST_POSTGRES_URL`, a server
/// from scripts/postgres.sh; skipped without one). The reference is the SQLite log: the same
/// records and labels give equal results, and retention keeps the same records.
final class PostgresMonitorStateTests: XCTestCase {
    var server: PostgresURL!
    var url: PostgresURL!
    var scratch: URL!
    var registry: PostgresRegistry!

    override func setUpWithError() throws {
        guard let text = ProcessInfo.processInfo.environment["BERTH_TEST_POSTGRES_URL"], !text.isEmpty else {
            throw XCTSkip("BERTH_TEST_POSTGRES_URL is not set (scripts/postgres.sh start)")
        }
        server = try PostgresURL(text)
        url = server
        url.database = "berth_mon_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try admin(server) { try $0.execute("CREATE DATABASE \(self.url.database)") }
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("berth-pgmon-\(UUID().uuidString)")
        // The registry's migrations make the monitoring tables.
        registry = try PostgresRegistry(url: url, dataDirectory: scratch.appendingPathComponent("data"))
    }

    override func tearDownWithError() throws {
        registry?.close()
        if let url, let server { try? admin(server) { try $0.execute("DROP DATABASE IF EXISTS \(url.database) WITH (FORCE)") } }
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    func admin<T>(_ url: PostgresURL, _ body: (PostgresSession) throws -> T) throws -> T {
        let pool = PostgresPool(url: url, logger: Logger(label: "berth.tests.postgres"))
        defer { pool.shutdown() }
        return try pool.withConnection(body)
    }

    func store(_ replica: String) -> PostgresPredictionStore { SharedMonitorState(url: url, replica: replica).predictions }

    func record(_ id: String, version: String = "1", x: [Float], labels: [Int64], time: Date = Date()) throws -> PredictionRecord {
        PredictionRecord(id: id, time: time, model: "m", version: version, route: id.hasPrefix("n") ? nil : "production", transport: "rest",
                         rows: labels.count, latencyMs: 1.5, inputs: [("x", try Tensor(shape: [labels.count, x.count / labels.count], values: x))],
                         outputs: [("label", try Tensor(shape: [labels.count], values: labels))])
    }

    func testTheSameRecordsAndLabelsGiveTheSameAnswersAsSQLite() throws {
        let sqlite = try PredictionLog(directory: scratch.appendingPathComponent("sqlite"))
        let pg = PredictionLog(store: store("r1"))
        func id(_ i: Int) -> String { i % 5 == 0 ? "n\(i)" : "r\(i)" }
        for i in 0..<40 {
            let n = i % 4 + 1
            let x = [Float](repeating: Float(i % 7), count: 2 * n)
            let y = [Int64](repeating: Int64(i % 3), count: n)
            let time = Date(timeIntervalSince1970: 1_800_000_000 + Double(i))
            let r = try record(id(i), version: i < 25 ? "1" : "2", x: x, labels: y, time: time)
            sqlite.append(r)
            pg.append(r)
        }
        var feedback: [Feedback] = []
        for i in 0..<40 where i % 3 != 0 {
            let label = ClassLabel.number(Double((i + 1) % 3))
            feedback.append(Feedback(id: id(i), labels: [ClassLabel](repeating: label, count: i % 4 + 1)))
        }
        feedback.append(Feedback(id: "never", labels: [.number(1)]))
        feedback.append(Feedback(id: "r1", labels: [.number(0), .number(1), .number(2), .number(0)]))
        let now = Date(timeIntervalSince1970: 1_800_000_100)
        XCTAssertEqual(try pg.attach(model: "m", feedback, now: now), try sqlite.attach(model: "m", feedback, now: now))
        XCTAssertEqual(try pg.records(model: "m"), try sqlite.records(model: "m"))
        XCTAssertEqual(try pg.records(model: "m", version: "2", since: Date(timeIntervalSince1970: 1_800_000_030), limit: 4),
                       try sqlite.records(model: "m", version: "2", since: Date(timeIntervalSince1970: 1_800_000_030), limit: 4))
        XCTAssertEqual(try pg.versions(of: "m"), ["1", "2"])
        for v in ["1", "2"] {
            for rows in [1, 7, 1000] {
                XCTAssertEqual(try pg.labelled(model: "m", version: v, rows: rows), try sqlite.labelled(model: "m", version: v, rows: rows))
                XCTAssertEqual(try pg.recent(model: "m", version: v, rows: rows), try sqlite.recent(model: "m", version: v, rows: rows))
            }
            let a = RealizedPerformance.compute(try pg.labelled(model: "m", version: v, rows: 1000), window: 1000)
            let b = RealizedPerformance.compute(try sqlite.labelled(model: "m", version: v, rows: 1000), window: 1000)
            XCTAssertEqual(a?.accuracy, b?.accuracy)
            XCTAssertNotNil(a?.accuracy)
        }
    }

    func testRetentionByCountAndAge() throws {
        var settings = PredictionLogSettings(maxRows: 3, maxAge: 3600)
        settings.flushInterval = 10  // only explicit flushes
        let log = PredictionLog(store: store("r1"), settings: settings)
        let now = Date()
        log.append(try record("old", x: [0], labels: [0], time: now.addingTimeInterval(-7200)))
        for i in 0..<5 { log.append(try record("r\(i)", x: [Float(i)], labels: [0], time: now)) }
        log.flush()
        try log.applyRetention(now: now)
        XCTAssertEqual(try log.records(model: "m").map(\.id), ["r2", "r3", "r4"])
    }

    func testALabelSentToAnotherReplicaJoinsARecordStillInTheFirstOnesBatch() throws {
        var settings = PredictionLogSettings()
        settings.flushInterval = 0.1
        let a = PredictionLog(store: store("a"), settings: settings), b = PredictionLog(store: store("b"), settings: settings)
        a.append(try record("late", x: [1, 2], labels: [1]))
        // Sent at once to B: A has not written its batch yet; B retries after two flush intervals.
        let result = try b.attach(model: "m", [Feedback(id: "late", labels: [.number(1)])])
        XCTAssertEqual(result, FeedbackResult(accepted: 1, unknown: [], rejected: []))
        XCTAssertEqual(try a.labelled(model: "m", version: "1", rows: 10).map(\.labels), [[.number(1)]])
    }

    func testAlertStatesAndHistoryRoundTrip() throws {
        let store = SharedMonitorState(url: url, replica: "r1").alerts
        XCTAssertEqual(try store.load(), [:])
        let status = AlertStatus(state: "firing", since: Date(timeIntervalSince1970: 1_800_000_000.25), value: 0.5, samples: 40, version: "3",
                                 fired: 2, lastFired: Date(timeIntervalSince1970: 1_800_000_001), lastActions: ["rollback: production 3 → 2"])
        try store.save(rule: "busy", status: status, replica: "r1")
        var other = status
        other.state = "ok"
        try store.save(rule: "slow", status: other, replica: "r2")
        XCTAssertEqual(try store.load(), ["busy": status, "slow": other])
        for (i, t) in ["fired", "resolved", "fired"].enumerated() {
            try store.record(AlertEvent(rule: "busy", model: "m", transition: t, at: Date(timeIntervalSince1970: 1_800_000_000 + Double(i)),
                                        value: i == 1 ? nil : 0.5, samples: 40, version: "3", actions: i == 0 ? ["log: written"] : [],
                                        replica: "r\(i)"))
        }
        let history = try store.history(limit: 2)
        XCTAssertEqual(history.map(\.transition), ["fired", "resolved"])
        XCTAssertEqual(history.map(\.replica), ["r2", "r1"])
        XCTAssertNil(history[1].value)
        XCTAssertEqual(try store.history(limit: 10).last?.actions, ["log: written"])
    }

    /// The reference is the file store: the same CSV gives the same table and description; a
    /// second replica's store reads a replacement at once (its digest), and a bad sample is refused.
    func testReferenceSamplesMatchTheFileStoreAndReplacementsReachOtherReplicas() throws {
        let files = ReferenceStore(dataDirectory: scratch.appendingPathComponent("files"))
        let a = SharedMonitorState(url: url, replica: "a").references, b = SharedMonitorState(url: url, replica: "b").references
        XCTAssertNil(try b.get(model: "m", version: "1"))
        let csv = Array("x,y,label\n1.5,2,0\n3,4.25,1\n-1,0,1\n".utf8)
        let put = try a.put(model: "m", version: "1", csv: csv, label: "label")
        let want = try files.put(model: "m", version: "1", csv: csv, label: "label")
        XCTAssertEqual(put.sha256, want.sha256)
        XCTAssertEqual([put.rows, put.columns.count], [want.rows, want.columns.count])
        let got = try XCTUnwrap(try b.get(model: "m", version: "1"))
        let ref = try XCTUnwrap(try files.get(model: "m", version: "1"))
        XCTAssertEqual(got.table.names, ref.table.names)
        XCTAssertEqual(got.info.features, ["x", "y"])
        XCTAssertEqual(got.info.label, "label")
        XCTAssertEqual(got.table.columns.map(\.numbers), ref.table.columns.map(\.numbers))
        // Replaced through A: B, which holds the old table, reads the new one.
        let csv2 = Array("x,y\n7,8\n".utf8)
        try a.put(model: "m", version: "1", csv: csv2, label: nil)
        let again = try XCTUnwrap(try b.get(model: "m", version: "1"))
        XCTAssertEqual(again.info.rows, 1)
        XCTAssertNil(again.info.label)
        XCTAssertEqual(again.table.columns.first?.numbers, [7])
        XCTAssertThrowsError(try a.put(model: "m", version: "1", csv: Array("x\n".utf8), label: nil))
        XCTAssertThrowsError(try a.put(model: "../m", version: "1", csv: csv, label: nil))
        XCTAssertEqual(try b.get(model: "m", version: "1")?.info.rows, 1)
    }

    /// Three replicas' counts in the table sum to the direct count of every request (exact), and
    /// pruning drops the seconds before its bound.
    func testRequestCountsOfEveryReplicaAddUp() throws {
        let store = SharedMonitorState(url: url, replica: "r").requestCounts
        let windows = (0..<3).map { ClusterRequestWindow(store: store, replica: "r\($0)") }
        // Whole seconds at most 20 s old, as the local window keeps requests with time >= now - 20.
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var requests = 0, failures = 0, latencies: [Double] = []
        for i in 0..<600 {
            let failed = i % 7 == 0, ms = 0.1 * Double(i % 50 + 1), age = Double(i % 30)
            windows[i % 3].record(model: "m", latencyMs: ms, failed: failed, at: now.addingTimeInterval(-age))
            if age <= 20 { requests += 1; if failed { failures += 1 } else { latencies.append(ms) } }
        }
        for w in windows { try w.flush(now: now) }
        let s = try windows[0].summary(model: "m", seconds: 20, now: now)
        XCTAssertEqual(s.requests, requests)
        XCTAssertEqual(s.failures, failures)
        latencies.sort()
        let p99 = latencies[Int((0.99 * Double(latencies.count)).rounded(.up)) - 1]
        XCTAssertEqual(s.p99LatencyMs!, p99, accuracy: p99 * 0.022)
        XCTAssertEqual(try windows[0].summary(model: "other", seconds: 20, now: now).requests, 0)
        try store.prune(before: Int64(now.timeIntervalSince1970) + 1)
        XCTAssertEqual(try windows[0].summary(model: "m", seconds: 60, now: now).requests, 0)
    }
}
