import Foundation
@testable import BerthMonitor
import XCTest

/// Request counts summed across replicas: the cluster's summary of requests split over three
/// replicas equals a direct count of all of them (rates exact; percentiles by nearest rank on
/// the sorted latencies, within half a log bucket, 2.2 %).
final class ClusterRequestWindowTests: XCTestCase {
    /// A store in memory that sums what the replicas wrote, as the PostgreSQL table does.
    final class MemoryStore: RequestCountStore, @unchecked Sendable {
        let lock = NSLock()
        var rows: [(String, RequestCounts)] = []
        var down = false
        func write(_ counts: [RequestCounts], replica: String) throws {
            try lock.withLock {
                if down { throw MonitorError.invalidArgument("down") }
                rows += counts.map { (replica, $0) }
            }
        }
        func total(model: String, from second: Int64) throws -> RequestCounts {
            lock.withLock {
                var out = RequestCounts(model: model, second: second)
                for (_, c) in rows where c.model == model && c.second >= second { out.merge(c) }
                return out
            }
        }
        func prune(before second: Int64) throws { lock.withLock { rows.removeAll { $0.1.second < second } } }
    }

    func testTheClusterSummaryCountsEveryReplicasRequests() throws {
        let store = MemoryStore()
        let replicas = (0..<3).map { ClusterRequestWindow(store: store, replica: "r\($0)") }
        let now = Date(timeIntervalSince1970: 1_000_000)
        var rng = SystemRandomNumberGenerator()
        var latencies: [Double] = [], failures = 0, total = 0
        for i in 0..<3000 {
            let failed = Int.random(in: 0..<10, using: &rng) == 0
            let ms = exp(Double.random(in: -3...5, using: &rng))
            // Requests in the last 50 s; a few older ones outside the 60 s window.
            let age = i % 100 == 0 ? 90.0 : Double.random(in: 0..<50, using: &rng)
            replicas[i % 3].record(model: "m", latencyMs: ms, failed: failed, at: now.addingTimeInterval(-age))
            replicas[i % 3].record(model: "other", latencyMs: 1, failed: true, at: now.addingTimeInterval(-age))
            guard age < 60 else { continue }
            total += 1
            if failed { failures += 1 } else { latencies.append(ms) }
        }
        for r in replicas { try r.flush(now: now) }
        let s = try replicas[1].summary(model: "m", seconds: 60, now: now)
        XCTAssertEqual(s.requests, total)
        XCTAssertEqual(s.failures, failures)
        XCTAssertEqual(s.errorRate!, Double(failures) / Double(total), accuracy: 1e-15)
        XCTAssertEqual(s.requestRate, Double(total) / 60, accuracy: 1e-12)
        latencies.sort()
        func nearestRank(_ q: Double) -> Double { latencies[Int((q * Double(latencies.count)).rounded(.up)) - 1] }
        for (got, q) in [(s.p50LatencyMs!, 0.5), (s.p99LatencyMs!, 0.99)] {
            XCTAssertEqual(got, nearestRank(q), accuracy: nearestRank(q) * 0.022, "p\(Int(q * 100))")
        }
        // Pruned past the horizon, nothing of the old second is left.
        try ClusterRequestWindow(store: store, replica: "x", horizon: 60).prune(now: now)
        XCTAssertFalse(store.rows.contains { $0.1.second < 1_000_000 - 60 })
    }

    func testCountsWaitForTheStoreToComeBack() throws {
        let store = MemoryStore()
        let w = ClusterRequestWindow(store: store, replica: "r")
        let now = Date()
        w.record(model: "m", latencyMs: 2, failed: false, at: now)
        store.down = true
        XCTAssertThrowsError(try w.flush(now: now))
        w.record(model: "m", latencyMs: 2, failed: true, at: now)
        store.down = false
        try w.flush(now: now)
        let s = try w.summary(model: "m", seconds: 10, now: now)
        XCTAssertEqual(s.requests, 2)
        XCTAssertEqual(s.failures, 1)
        XCTAssertEqual(s.p50LatencyMs!, 2, accuracy: 2 * 0.022)
    }

    func testLatencyBucketsHoldTheirLatencies() {
        for ms in [0.0005, 0.0011, 0.37, 1, 2.5, 999, 123_456] {
            let mid = LatencyBuckets.midpointMs(LatencyBuckets.index(ms: ms))
            XCTAssertEqual(mid, max(ms, 0.001), accuracy: max(ms, 0.001) * 0.022, "\(ms) ms")
        }
        XCTAssertEqual(LatencyBuckets.index(ms: .infinity), LatencyBuckets.last)
        XCTAssertEqual(LatencyBuckets.index(ms: .nan), 0)
        XCTAssertEqual(LatencyBuckets.index(ms: 1e30), LatencyBuckets.last)
    }
}
