import AsyncHTTPClient
import BerthProtocol
import BerthServer
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

/// How one benchmark request ended.
enum BenchOutcome: Sendable {
    case ok
    /// The server answered with an error (HTTP status other than 200, or a gRPC status).
    case serverError(String)
    /// No answer: connection refused or reset, timeout.
    case transportError(String)
}

/// What sends the benchmark's request: one instance per concurrency level, shared by its loops.
protocol BenchTransport: Sendable {
    /// Sends the request once from loop `loop` and reads the whole answer.
    func send(loop: Int) async -> BenchOutcome
    /// Closes the connections.
    func close() async
    /// Where loop `loop`'s task should run (nil: Swift's global executor).
    func executor(loop: Int) -> (any TaskExecutor)?
}

extension BenchTransport {
    func executor(loop: Int) -> (any TaskExecutor)? { nil }
}

/// Sends the same V2 inference request from `concurrency` loops and measures latency and
/// throughput, like Triton's perf_analyzer in concurrency mode.
struct BenchRunner: Sendable {
    var rows: Int
    /// Untimed requests each loop sends first (opens connections, warms caches).
    var warmupPerLoop: Int
    /// Opens the transport of one level, given its concurrency.
    var connect: @Sendable (Int) throws -> any BenchTransport

    /// Runs one concurrency level with its own transport.
    func run(concurrency: Int, limit: BenchLimit) async throws -> BenchStepResult {
        let transport = try connect(concurrency)
        let result = await measure(transport, concurrency: concurrency, limit: limit)
        await transport.close()
        return result
    }

    private func measure(_ transport: any BenchTransport, concurrency: Int, limit: BenchLimit) async -> BenchStepResult {
        // Warm-up: every loop at once, so the transport opens its connections.
        await withTaskGroup(of: Void.self) { group in
            for loop in 0..<concurrency {
                group.addTask(executorPreference: transport.executor(loop: loop)) {
                    for _ in 0..<warmupPerLoop {
                        if case .transportError = await transport.send(loop: loop) { break }
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
            for loop in 0..<concurrency {
                group.addTask(executorPreference: transport.executor(loop: loop)) {
                    var r = LoopResult()
                    while budget.claim() {
                        if let deadline, clock.now >= deadline { break }
                        let t0 = clock.now
                        let outcome = await transport.send(loop: loop)
                        let elapsed = clock.now - t0
                        switch outcome {
                        case .ok:
                            r.latenciesMs.append(Double(elapsed.components.seconds) * 1e3
                                + Double(elapsed.components.attoseconds) / 1e15)
                        case let .serverError(message):
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

    private struct LoopResult: Sendable {
        var latenciesMs: [Double] = []
        var errors = 0
        var firstError: String?
    }
}

/// POSTs the request to `/v2/models/NAME/infer` over HTTP/1.1, one connection per loop.
struct RESTBenchTransport: BenchTransport {
    var inferURL: String
    var body: [UInt8]
    var contentType: String
    var inferenceHeaderLength: Int?
    var timeoutSeconds: Int64
    /// The `Authorization` header value, when the server needs a key.
    var authorization: String?
    let client: HTTPClient

    init(inferURL: String, body: [UInt8], contentType: String, inferenceHeaderLength: Int?, timeoutSeconds: Int64,
         authorization: String?, concurrency: Int) {
        self.inferURL = inferURL
        self.body = body
        self.contentType = contentType
        self.inferenceHeaderLength = inferenceHeaderLength
        self.timeoutSeconds = timeoutSeconds
        self.authorization = authorization
        var config = HTTPClient.Configuration()
        config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        config.timeout.connect = .seconds(10)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    func close() async { try? await client.shutdown() }

    func send(loop: Int) async -> BenchOutcome {
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
                return .serverError("HTTP \(response.status.code): \(message.prefix(500))")
            }
            return .ok
        } catch {
            return .transportError("\(error)")
        }
    }
}

/// Sends `ModelInfer` over gRPC with the inputs as `raw_input_contents`. Loops share
/// `connections` HTTP/2 connections round robin (each multiplexes its loops' calls), so the
/// server spreads them over its event loops as it does REST's connections.
struct GRPCBenchTransport: BenchTransport {
    let clients: [InferenceGRPCClient]
    let request: InferenceGRPCClient.PreparedInfer

    init(host: String, port: Int, authorization: String?, request: InferenceGRPCClient.PreparedInfer, connections: Int,
         timeoutSeconds: Double? = nil) throws {
        clients = try (0..<max(1, connections)).map { _ in
            try InferenceGRPCClient(host: host, port: port, authorization: authorization, timeoutSeconds: timeoutSeconds)
        }
        self.request = request
    }

    func close() async {
        for c in clients { await c.close() }
    }

    /// A loop runs on its connection's event loop, so a call costs no thread hop each way
    /// (`BERTH_BENCH_GRPC_EXECUTOR=global`: Swift's global executor instead, for comparison).
    func executor(loop: Int) -> (any TaskExecutor)? {
        Self.onConnectionLoop ? clients[loop % clients.count].taskExecutor : nil
    }

    static let onConnectionLoop = ProcessInfo.processInfo.environment["BERTH_BENCH_GRPC_EXECUTOR"] != "global"

    func send(loop: Int) async -> BenchOutcome {
        do {
            try await clients[loop % clients.count].infer(request)
            return .ok
        } catch let error as InferenceGRPCClient.CallError {
            // The transport's own failures (refused, reset) arrive as `unavailable`.
            return error.code == "unavailable" ? .transportError(error.description) : .serverError(error.description)
        } catch {
            return .transportError("\(error)")
        }
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
