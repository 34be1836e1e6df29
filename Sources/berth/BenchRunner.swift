import AsyncHTTPClient
import BerthProtocol
import Foundation

/// When a benchmark step ends.
enum BenchLimit: Sendable {
    /// After this many seconds (requests in flight are allowed to finish).
    case seconds(Double)
    /// After this many requests in total, across all loops.
    case requests(Int)
}

/// The result of one concurrency level.
struct BenchStepResult: Encodable {
    var concurrency: Int
    /// Requests completed in the measured window, errors included.
    var requests: Int
    var errors: Int
    /// Wall time of the measured window.
    var seconds: Double
    /// Rows each request carries.
    var batch: Int
    /// Successful requests per second.
    var inferPerSecond: Double
    /// Rows of successful requests per second.
    var rowsPerSecond: Double
    var meanMs: Double
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    /// The first error message of the step, if any request failed.
    var firstError: String?

    enum CodingKeys: String, CodingKey {
        case concurrency, requests, errors, seconds, batch
        case inferPerSecond = "infer_per_sec", rowsPerSecond = "rows_per_sec"
        case meanMs = "mean_ms", p50Ms = "p50_ms", p90Ms = "p90_ms", p99Ms = "p99_ms"
        case firstError = "first_error"
    }
}

/// Sends the same V2 inference request from `concurrency` loops and measures latency and
/// throughput, like Triton's perf_analyzer in concurrency mode.
struct BenchRunner: Sendable {
    var inferURL: String
    var body: [UInt8]
    var contentType: String
    var inferenceHeaderLength: Int?
    var rows: Int
    var timeoutSeconds: Int64
    /// Untimed requests each loop sends first (opens connections, warms caches).
    var warmupPerLoop: Int
    /// The `Authorization` header value, when the server needs a key.
    var authorization: String? = nil

    /// Runs one concurrency level with its own client, whose connection pool has one
    /// connection per loop.
    func run(concurrency: Int, limit: BenchLimit) async throws -> BenchStepResult {
        var config = HTTPClient.Configuration()
        config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        config.timeout.connect = .seconds(10)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        do {
            let result = try await measure(client: client, concurrency: concurrency, limit: limit)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func measure(client: HTTPClient, concurrency: Int, limit: BenchLimit) async throws -> BenchStepResult {
        // Warm-up: every loop at once, so the pool opens `concurrency` connections.
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    for _ in 0..<warmupPerLoop {
                        if case .transportError = await send(client) { break }
                    }
                }
            }
        }

        let budget = BenchRequestBudget(limit: limit)
        let clock = ContinuousClock()
        let start = clock.now
        let deadline: ContinuousClock.Instant? = {
            if case let .seconds(s) = limit { return start + .milliseconds(Int64(s * 1000)) }
            return nil
        }()
        let loops = await withTaskGroup(of: LoopResult.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var r = LoopResult()
                    while budget.claim() {
                        if let deadline, clock.now >= deadline { break }
                        let t0 = clock.now
                        let outcome = await send(client)
                        let elapsed = clock.now - t0
                        switch outcome {
                        case .ok:
                            r.latenciesMs.append(Double(elapsed.components.seconds) * 1e3
                                + Double(elapsed.components.attoseconds) / 1e15)
                        case let .httpError(message):
                            r.errors += 1
                            if r.firstError == nil { r.firstError = message }
                        case let .transportError(message):
                            r.errors += 1
                            if r.firstError == nil { r.firstError = message }
                            // No connection: back off instead of spinning through failures.
                            try? await Task.sleep(for: .milliseconds(10))
                        }
                    }
                    return r
                }
            }
            var all: [LoopResult] = []
            for await r in group { all.append(r) }
            return all
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let latencies = loops.flatMap(\.latenciesMs)
        let errors = loops.reduce(0) { $0 + $1.errors }
        let stats = LatencyStats(latencies)
        let ok = Double(latencies.count)
        return BenchStepResult(
            concurrency: concurrency, requests: latencies.count + errors, errors: errors, seconds: seconds,
            batch: rows, inferPerSecond: seconds > 0 ? ok / seconds : 0,
            rowsPerSecond: seconds > 0 ? ok * Double(rows) / seconds : 0,
            meanMs: stats.mean, p50Ms: stats.p50, p90Ms: stats.p90, p99Ms: stats.p99,
            firstError: loops.lazy.compactMap(\.firstError).first)
    }

    /// How one request ended.
    enum Outcome: Sendable {
        case ok
        /// The server answered with a status other than 200 (its `{"error": ...}` text).
        case httpError(String)
        /// No answer: connection refused or reset, timeout.
        case transportError(String)
    }

    /// Sends one request and reads the whole answer.
    private func send(_ client: HTTPClient) async -> Outcome {
        var request = HTTPClientRequest(url: inferURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let n = inferenceHeaderLength {
            request.headers.add(name: "Inference-Header-Content-Length", value: String(n))
        }
        request.body = .bytes(body)
        do {
            let response = try await client.execute(request, timeout: .seconds(timeoutSeconds))
            let answer = try await response.body.collect(upTo: 256 << 20)
            guard response.status.code == 200 else {
                let text = String(decoding: answer.readableBytesView, as: UTF8.self)
                let message = (try? CodableJSON.decoder.decode(V2ErrorBody.self, from: Data(text.utf8)))?.error ?? text
                return .httpError("HTTP \(response.status.code): \(message.prefix(500))")
            }
            return .ok
        } catch {
            return .transportError("\(error)")
        }
    }

    private struct LoopResult: Sendable {
        var latenciesMs: [Double] = []
        var errors = 0
        var firstError: String?
    }
}

/// Hands out request permits: unlimited for a timed step, `n` in total for a counted one.
final class BenchRequestBudget: @unchecked Sendable {
    private let lock = NSLock()
    private var remaining: Int?

    init(limit: BenchLimit) {
        if case let .requests(n) = limit { remaining = n }
    }

    /// True if another request may be sent.
    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let r = remaining else { return true }
        guard r > 0 else { return false }
        remaining = r - 1
        return true
    }
}
