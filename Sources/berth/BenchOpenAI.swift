import AsyncHTTPClient
import BerthProtocol
import Foundation
import NIOCore

/// `berth bench --openai`: streamed chat completions from `concurrency` loops against an
/// OpenAI-compatible server (Berth's, vLLM's, llama.cpp's), reporting what LLM serving is judged
/// by: time to first token, inter-token latency and prompt / output tokens per second.
struct OpenAIBench: Sendable {
    var baseURL: String
    var model: String
    var prompt: String
    var maxTokens: Int
    var authorization: String?
    var timeoutSeconds: Int64

    /// One concurrency level's result.
    struct Step: Encodable {
        var concurrency: Int
        var requests: Int
        var errors: Int
        var seconds: Double
        var promptTokens: Int
        var outputTokens: Int
        var promptTokensPerSecond: Double
        var outputTokensPerSecond: Double
        var ttftP50Ms: Double
        var ttftP99Ms: Double
        var itlP50Ms: Double
        var firstError: String?

        enum CodingKeys: String, CodingKey {
            case concurrency, requests, errors, seconds
            case promptTokens = "prompt_tokens", outputTokens = "output_tokens"
            case promptTokensPerSecond = "prompt_tokens_per_sec", outputTokensPerSecond = "output_tokens_per_sec"
            case ttftP50Ms = "ttft_p50_ms", ttftP99Ms = "ttft_p99_ms", itlP50Ms = "itl_p50_ms", firstError = "first_error"
        }

        static let header = "concurrency  requests errors  prompt tok/s  output tok/s  TTFT p50 ms  TTFT p99 ms  ITL p50 ms"
        var row: String {
            String(format: "%11d %9d %6d %13.1f %13.1f %12.1f %12.1f %10.2f", concurrency, requests, errors, promptTokensPerSecond,
                   outputTokensPerSecond, ttftP50Ms, ttftP99Ms, itlP50Ms)
        }
    }

    /// One streamed request: time to the first content chunk, total time, usage.
    private struct Sample { var ttft: Double; var total: Double; var prompt: Int; var output: Int }

    func run(concurrency: Int, limit: BenchLimit, warmup: Int) async throws -> Step {
        var config = HTTPClient.Configuration()
        config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        defer { _ = client.shutdown() }
        for _ in 0..<warmup { _ = try? await send(client) }
        let budget = BenchRequestBudget(limit: limit)
        let clock = ContinuousClock(), start = clock.now
        let deadline: ContinuousClock.Instant? = { if case let .seconds(s) = limit { return start + .milliseconds(Int64(s * 1000)) }; return nil }()
        let results = await withTaskGroup(of: ([Sample], Int, String?).self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var samples: [Sample] = [], errors = 0, first: String?
                    while budget.claim() {
                        if let deadline, clock.now >= deadline { break }
                        do { samples.append(try await send(client)) } catch {
                            errors += 1
                            if first == nil { first = "\(error)" }
                        }
                    }
                    return (samples, errors, first)
                }
            }
            var all: [([Sample], Int, String?)] = []
            for await r in group { all.append(r) }
            return all
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let samples = results.flatMap(\.0)
        let prompt = samples.reduce(0) { $0 + $1.prompt }, output = samples.reduce(0) { $0 + $1.output }
        let ttft = LatencyStats(samples.map { $0.ttft * 1e3 })
        let itl = LatencyStats(samples.filter { $0.output > 1 }.map { ($0.total - $0.ttft) * 1e3 / Double($0.output - 1) })
        return Step(concurrency: concurrency, requests: samples.count + results.reduce(0) { $0 + $1.1 }, errors: results.reduce(0) { $0 + $1.1 },
                    seconds: seconds, promptTokens: prompt, outputTokens: output,
                    promptTokensPerSecond: seconds > 0 ? Double(prompt) / seconds : 0,
                    outputTokensPerSecond: seconds > 0 ? Double(output) / seconds : 0,
                    ttftP50Ms: ttft.p50, ttftP99Ms: ttft.p99, itlP50Ms: itl.p50, firstError: results.lazy.compactMap(\.2).first)
    }

    /// Sends one streamed chat completion and reads it to `[DONE]`.
    private func send(_ client: HTTPClient) async throws -> Sample {
        var request = HTTPClientRequest(url: baseURL + "/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let body: [String: Any] = ["model": model, "messages": [["role": "user", "content": prompt]], "max_tokens": maxTokens,
                                   "stream": true, "stream_options": ["include_usage": true], "temperature": 0]
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let clock = ContinuousClock(), t0 = clock.now
        let response = try await client.execute(request, timeout: .seconds(timeoutSeconds))
        guard response.status.code == 200 else {
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            throw CLIError("HTTP \(response.status.code): \(text.prefix(300))")
        }
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        var pending = "", ttft: Double?, prompt = 0, output = 0, done = false
        for try await chunk in response.body {
            pending += String(buffer: chunk)
            while let nl = pending.firstIndex(of: "\n") {
                let line = pending[..<nl].trimmingCharacters(in: .whitespaces)
                pending = String(pending[pending.index(after: nl)...])
                guard line.hasPrefix("data:") else { continue }
                let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                if payload == "[DONE]" { done = true; continue }
                guard let json = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
                if let error = json["error"] as? [String: Any] { throw CLIError("stream error: \(error["message"] ?? "?")") }
                if ttft == nil, let choices = json["choices"] as? [[String: Any]],
                   let delta = choices.first?["delta"] as? [String: Any], let content = delta["content"] as? String, !content.isEmpty {
                    ttft = seconds(clock.now - t0)
                }
                if let usage = json["usage"] as? [String: Any] {
                    prompt = usage["prompt_tokens"] as? Int ?? 0
                    output = usage["completion_tokens"] as? Int ?? 0
                }
            }
        }
        guard done else { throw CLIError("the stream ended without [DONE]") }
        let total = seconds(clock.now - t0)
        return Sample(ttft: ttft ?? total, total: total, prompt: prompt, output: output)
    }
}
