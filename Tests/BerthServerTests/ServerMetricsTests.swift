@testable import BerthServer
import Foundation
import XCTest

final class ServerMetricsTests: XCTestCase {
    /// The exposition's sample lines as `series → value`, e.g.
    /// `berth_inference_rows_total{model="m",version="1"}` → 6.
    private func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else {
                continue
            }
            out[String(line[..<space])] = v
        }
        return out
    }

    private let mv = #"model="digits",version="1""#

    func testRequestCountersRowsAndFailureReasons() {
        let m = ServerMetrics()
        for _ in 0..<3 {
            m.recordRequest(model: "digits", version: "1", success: true, reason: nil, rows: 2, requestSeconds: 0.003)
        }
        m.recordRequest(model: "digits", version: "1", success: false, reason: .badRequest, rows: 5,
                        requestSeconds: 0.0001)
        m.recordRequest(model: "digits", version: "1", success: false, reason: nil, rows: 1, requestSeconds: 0.0001)
        m.recordRequest(model: "other", version: "7", success: true, reason: nil, rows: 1, requestSeconds: 0.5)

        let s = samples(m.exposition())
        XCTAssertEqual(s[#"berth_inference_requests_total{\#(mv),outcome="success",reason=""}"#], 3)
        XCTAssertEqual(s[#"berth_inference_requests_total{\#(mv),outcome="failure",reason="bad_request"}"#], 1)
        // A failure without a reason counts as internal; other reasons exist at 0.
        XCTAssertEqual(s[#"berth_inference_requests_total{\#(mv),outcome="failure",reason="internal"}"#], 1)
        XCTAssertEqual(s[#"berth_inference_requests_total{\#(mv),outcome="failure",reason="queue_full"}"#], 0)
        // Rows count successful requests only.
        XCTAssertEqual(s[#"berth_inference_rows_total{\#(mv)}"#], 6)
        XCTAssertEqual(s[#"berth_inference_requests_total{model="other",version="7",outcome="success",reason=""}"#], 1)
        XCTAssertEqual(s[#"berth_inference_rows_total{model="other",version="7"}"#], 1)
    }

    func testRequestDurationHistogram() throws {
        let m = ServerMetrics()
        for seconds in [0.00005, 0.0001, 0.003, 0.04, 2.0, 30.0] {
            m.recordRequest(model: "digits", version: "1", success: true, reason: nil, rows: 1, requestSeconds: seconds)
        }
        let text = m.exposition()
        XCTAssertTrue(text.contains("# TYPE berth_inference_request_duration_seconds histogram"), text)
        let s = samples(text)
        func bucket(_ le: String) -> Double? {
            s[#"berth_inference_request_duration_seconds_bucket{\#(mv),le="\#(le)"}"#]
        }
        // Buckets are cumulative and `le` is inclusive.
        XCTAssertEqual(bucket("0.0001"), 2)
        XCTAssertEqual(bucket("0.001"), 2)
        XCTAssertEqual(bucket("0.005"), 3)
        XCTAssertEqual(bucket("0.05"), 4)
        XCTAssertEqual(bucket("2.5"), 5)
        XCTAssertEqual(bucket("10.0"), 5)
        XCTAssertEqual(bucket("+Inf"), 6)
        XCTAssertEqual(s[#"berth_inference_request_duration_seconds_count{\#(mv)}"#], 6)
        let sum = try XCTUnwrap(s[#"berth_inference_request_duration_seconds_sum{\#(mv)}"#])
        XCTAssertEqual(sum, 0.00005 + 0.0001 + 0.003 + 0.04 + 2.0 + 30.0, accuracy: 1e-9)
        // Every documented bucket bound is emitted.
        for le in ServerMetrics.durationBuckets {
            XCTAssertNotNil(bucket(le.description), "bucket le=\(le)")
        }
    }

    func testExecutionsQueueComputeAndPending() throws {
        let m = ServerMetrics()
        m.recordExecution(model: "digits", version: "1", rows: 8, requests: 3, queueSeconds: 0.0004,
                          computeSeconds: 0.002)
        m.recordExecution(model: "digits", version: "1", rows: 1, requests: 1, queueSeconds: 0, computeSeconds: 0.2)
        m.setPending(model: "digits", version: "1", count: 5)
        m.setPending(model: "digits", version: "1", count: 2)

        let text = m.exposition()
        let s = samples(text)
        XCTAssertEqual(s[#"berth_inference_executions_total{\#(mv)}"#], 2)
        XCTAssertEqual(s[#"berth_inference_execution_requests_total{\#(mv)}"#], 4)
        XCTAssertEqual(s[#"berth_inference_pending_requests{\#(mv)}"#], 2)
        XCTAssertTrue(text.contains("# TYPE berth_inference_pending_requests gauge"))
        XCTAssertEqual(s[#"berth_inference_queue_duration_seconds_bucket{\#(mv),le="0.0001"}"#], 1)
        XCTAssertEqual(s[#"berth_inference_queue_duration_seconds_bucket{\#(mv),le="0.0005"}"#], 2)
        XCTAssertEqual(s[#"berth_inference_queue_duration_seconds_count{\#(mv)}"#], 2)
        XCTAssertEqual(s[#"berth_inference_compute_duration_seconds_bucket{\#(mv),le="0.0025"}"#], 1)
        XCTAssertEqual(s[#"berth_inference_compute_duration_seconds_bucket{\#(mv),le="0.25"}"#], 2)
        XCTAssertEqual(try XCTUnwrap(s[#"berth_inference_compute_duration_seconds_sum{\#(mv)}"#]), 0.202,
                       accuracy: 1e-12)
        XCTAssertEqual(s[#"berth_inference_batch_rows_bucket{\#(mv),le="1.0"}"#], 1)
        XCTAssertEqual(s[#"berth_inference_batch_rows_bucket{\#(mv),le="8.0"}"#], 2)
        XCTAssertEqual(s[#"berth_inference_batch_rows_sum{\#(mv)}"#], 9)
    }

    func testProcessMetrics() throws {
        let text = ServerMetrics().exposition()
        let s = samples(text)
        XCTAssertTrue(text.contains("# TYPE process_resident_memory_bytes gauge"))
        let start = try XCTUnwrap(s["process_start_time_seconds"])
        let now = Date().timeIntervalSince1970
        XCTAssertLessThanOrEqual(start, now + 1)
        XCTAssertGreaterThan(start, now - 7 * 24 * 3600, "the test process started within the last week")
        #if os(Linux)
        let rss = try XCTUnwrap(s["process_resident_memory_bytes"])
        XCTAssertGreaterThan(rss, 1_000_000, "a Swift test process has more than 1 MB resident")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(s["process_virtual_memory_bytes"]), rss)
        XCTAssertGreaterThan(try XCTUnwrap(s["process_open_fds"]), 2)
        XCTAssertNotNil(s["process_cpu_seconds_total"])
        #endif
    }

    func testStatmParsing() throws {
        let page = ProcSelf.pageSize
        let m = try XCTUnwrap(ProcSelf.memory(statm: "1000 250 30 5 0 400 0\n"))
        XCTAssertEqual(m.resident, 250 * page)
        XCTAssertEqual(m.virtual, 1000 * page)
        XCTAssertNil(ProcSelf.memory(statm: "garbage"))
        XCTAssertNil(ProcSelf.memory(statm: nil))
        // A command name with spaces and parentheses does not shift the fields.
        let fields = try XCTUnwrap(ProcSelf.statFields("42 (my (odd) name) S 1 2 3"))
        XCTAssertEqual(fields.first, "S")
    }

    func testRemoveSeriesAndLabelEscaping() {
        let m = ServerMetrics()
        m.recordRequest(model: #"we"ird\name"#, version: "2", success: true, reason: nil, rows: 1,
                        requestSeconds: 0.01)
        XCTAssertTrue(m.exposition().contains(#"model="we\"ird\\name""#))
        m.removeSeries(model: #"we"ird\name"#, version: "2")
        XCTAssertFalse(m.exposition().contains("ird"))
        // Recording again after removal starts fresh series.
        m.recordRequest(model: "x", version: "2", success: true, reason: nil, rows: 3, requestSeconds: 0.01)
        XCTAssertEqual(samples(m.exposition())[#"berth_inference_rows_total{model="x",version="2"}"#], 3)
    }

    func testSeriesBeyondTheCapGoToOther() {
        let m = ServerMetrics(maxSeries: 2)
        for name in ["a", "b", "c", "d"] {
            m.recordRequest(model: name, version: "1", success: false, reason: .notFound, rows: 1,
                            requestSeconds: 0.001)
        }
        let s = samples(m.exposition())
        XCTAssertEqual(s[#"berth_inference_requests_total{model="a",version="1",outcome="failure",reason="not_found"}"#], 1)
        XCTAssertEqual(s[#"berth_inference_requests_total{model="b",version="1",outcome="failure",reason="not_found"}"#], 1)
        XCTAssertNil(s[#"berth_inference_requests_total{model="c",version="1",outcome="failure",reason="not_found"}"#])
        XCTAssertEqual(s[#"berth_inference_requests_total{model="_other",version="_other",outcome="failure",reason="not_found"}"#], 2)
    }

    func testConcurrentRecording() async {
        let m = ServerMetrics()
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for _ in 0..<500 {
                        m.recordRequest(model: "m\(t % 2)", version: "1", success: true, reason: nil, rows: 2,
                                        requestSeconds: 0.001)
                        m.setPending(model: "m\(t % 2)", version: "1", count: t)
                    }
                }
            }
            group.addTask { for _ in 0..<20 { _ = m.exposition() } }
        }
        let s = samples(m.exposition())
        XCTAssertEqual(s[#"berth_inference_requests_total{model="m0",version="1",outcome="success",reason=""}"#], 2000)
        XCTAssertEqual(s[#"berth_inference_rows_total{model="m1",version="1"}"#], 4000)
    }
}
