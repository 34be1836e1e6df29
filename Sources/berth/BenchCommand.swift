import ArgumentParser
import NIOCore
import NIOPosix
import AsyncHTTPClient
import BerthProtocol
import BerthServer
import Foundation

/// `berth bench`: load-tests a running Open Inference Protocol (KServe V2) server, like
/// Triton's perf_analyzer: a concurrency sweep reporting throughput and latency percentiles.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test a V2 inference server: throughput and p50/p90/p99 latency per concurrency level.",
        discussion: """
            Reads the model's metadata (GET /v2/models/NAME), builds one request from it (random values; \
            the first -1 dimension is --batch) or from .npy files, then for each concurrency level runs \
            that many request loops POSTing to /v2/models/NAME/infer. Works against any server that \
            speaks the V2 REST protocol (Berth, Triton, MLServer, KServe). With --protocol grpc it \
            sends ModelInfer over gRPC instead (inputs as raw_input_contents, as tritonclient does; \
            --url is then HOST:PORT, default 127.0.0.1:8001). Error answers count as errors; \
            throughput and latency count successful requests only. Exits 1 when every request of a \
            level failed.
            """
    )

    @Option(help: "The server's base URL (REST), or HOST:PORT (gRPC).")
    var url: String?

    @Option(name: .customLong("protocol"), help: "rest (V2 over HTTP/1.1) or grpc (the Open Inference Protocol's gRPC service).")
    var transport: BenchProtocol = .rest

    @Option(help: "The model name.")
    var model: String

    @Option(help: "The model version (default: the server's choice).")
    var modelVersion: String?

    @Option(name: .customLong("input"), help: ArgumentHelp("An input from a .npy file, as NAME=FILE.npy (repeatable); other inputs are random.", valueName: "name=file"))
    var inputs: [String] = []

    @Option(name: .customLong("shape"), help: ArgumentHelp("A random input's full shape, as NAME=D1,D2,...", valueName: "name=dims"))
    var shapes: [String] = []

    @Option(help: "Rows per request for random inputs: the size of the first -1 dimension.")
    var batch = 1

    @Option(help: "Comma-separated concurrency levels (concurrent request loops).")
    var concurrency = "1,2,4,8,16,32"

    @Option(help: "Measured seconds per concurrency level (default 5, unless --requests is given).")
    var durationSeconds: Double?

    @Option(help: "Measured requests per concurrency level, instead of a duration.")
    var requests: Int?

    @Option(help: "Untimed warm-up requests per loop before each level.")
    var warmup = 2

    @Option(help: "Upper bound (exclusive) for random integer inputs.")
    var intRange = 10

    @Option(help: "Per-request timeout in seconds.")
    var timeoutSeconds = 30

    @Option(help: ArgumentHelp("Send 'Authorization: Bearer KEY' (default: $BERTH_API_KEY).", valueName: "key"))
    var apiKey: String?

    @Flag(help: "Send tensors with Triton's binary tensor data extension instead of JSON.")
    var binary = false

    @Flag(help: "Benchmark an OpenAI-compatible server instead: streamed chat completions of --model; reports time to first token, inter-token latency and tokens/s.")
    var openai = false

    @Option(help: "With --openai: the user message sent.")
    var prompt = "Write a short story about a lighthouse keeper."

    @Option(help: "With --openai: max_tokens of each completion.")
    var maxTokens = 64

    @Flag(help: "Print a JSON array with one object per concurrency level.")
    var json = false

    func validate() throws {
        guard batch > 0, warmup >= 0, intRange > 0, timeoutSeconds > 0 else {
            throw ValidationError("--batch, --int-range and --timeout-seconds must be positive, --warmup not negative")
        }
        guard durationSeconds == nil || requests == nil else {
            throw ValidationError("give --duration-seconds or --requests, not both")
        }
        if let d = durationSeconds, !(d > 0) { throw ValidationError("--duration-seconds must be positive") }
        if let n = requests, n <= 0 { throw ValidationError("--requests must be positive") }
        _ = try levels()
        if transport == .grpc {
            if binary { throw ValidationError("--binary is REST's binary extension; gRPC always sends raw_input_contents") }
            _ = try grpcAddress()
        }
    }

    /// Host and port for gRPC, from `--url` (`HOST:PORT`, an `http://` prefix tolerated).
    func grpcAddress() throws -> (host: String, port: Int) {
        var text = url ?? "127.0.0.1:8001"
        for scheme in ["http://", "grpc://"] where text.hasPrefix(scheme) { text = String(text.dropFirst(scheme.count)) }
        if text.hasSuffix("/") { text.removeLast() }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw ValidationError("--url '\(url ?? "")' must be HOST:PORT for --protocol grpc")
        }
        let host = String(text[..<colon]).trimmingCharacters(in: ["[", "]"])
        return (host.isEmpty || host == "localhost" ? "127.0.0.1" : host, port)
    }

    /// The concurrency levels from `--concurrency`.
    func levels() throws -> [Int] {
        let parts = concurrency.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap { Int($0) }
        guard !values.isEmpty, values.count == parts.count, values.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--concurrency '\(concurrency)' must be positive integers separated by commas")
        }
        return values
    }

    // Swift concurrency already runs on NIO's event loops (installed by `Berth.main`).
    mutating func run() async throws { try await runAsync() }

    func runAsync() async throws {
        if openai { return try await runOpenAI() }
        let restURL = url ?? "http://127.0.0.1:8000"
        let base = restURL.hasSuffix("/") ? String(restURL.dropLast()) : restURL
        var modelPath = "\(base)/v2/models/\(percentEncoded(model))"
        if let v = modelVersion { modelPath += "/versions/\(percentEncoded(v))" }

        let metadata = transport == .grpc ? try await fetchGRPCMetadata() : try await fetchMetadata(modelPath)
        let files = Dictionary(try parsePairs(inputs, what: "--input"), uniquingKeysWith: { _, last in last })
        let shapeMap = try parsePairs(shapes, what: "--shape").reduce(into: [String: [Int]]()) { acc, p in
            let dims = p.1.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !dims.isEmpty, dims.allSatisfy({ $0 != nil && $0! >= 0 }) else {
                throw CLIError("--shape \(p.0): '\(p.1)' must be non-negative integers separated by commas")
            }
            acc[p.0] = dims.map { $0! }
        }
        let tensors = try BenchInputs.make(metadata: metadata, files: files, shapes: shapeMap, batch: batch,
                                           intRange: intRange)
        let rows = BenchInputs.rows(tensors)
        let bodyText: String
        let connect: @Sendable (Int) throws -> any BenchTransport
        switch transport {
        case .rest:
            let encoded = BenchRequestBody.encode(tensors, binary: binary)
            bodyText = "\(binary ? "binary" : "JSON") body \(encoded.bytes.count) B"
            let (inferURL, timeout, authorization) = ("\(modelPath)/infer", Int64(timeoutSeconds), authorization)
            connect = { concurrency in
                RESTBenchTransport(inferURL: inferURL, body: encoded.bytes, contentType: encoded.contentType,
                                   inferenceHeaderLength: encoded.inferenceHeaderLength, timeoutSeconds: timeout,
                                   authorization: authorization, concurrency: concurrency)
            }
        case .grpc:
            let prepared = InferenceGRPCClient.prepare(model: model, version: modelVersion,
                                                           inputs: tensors.map { ($0.name, $0.tensor) })
            bodyText = "gRPC message \(prepared.byteCount) B"
            let (address, authorization, timeout) = (try grpcAddress(), authorization, Double(timeoutSeconds))
            connect = { concurrency in
                try GRPCBenchTransport(host: address.host, port: address.port, authorization: authorization, request: prepared,
                                       connections: min(concurrency, Self.grpcConnections), timeoutSeconds: timeout)
            }
        }
        let runner = BenchRunner(rows: rows, warmupPerLoop: warmup, connect: connect)
        let limit: BenchLimit
        if let n = requests { limit = .requests(n) } else { limit = .seconds(durationSeconds ?? 5) }

        if !json {
            let inputText = tensors.map { "\($0.name) \($0.tensor.dtype.v2Name)\($0.tensor.shape)" }
                .joined(separator: ", ")
            let limitText: String
            switch limit {
            case let .seconds(s): limitText = String(format: "%g s", s)
            case let .requests(n): limitText = "\(n) requests"
            }
            print("model \(metadata.name)\(modelVersion.map { " version \($0)" } ?? "")  inputs \(inputText)  "
                + "\(bodyText)  \(limitText) per level")
            print(BenchTable.header)
        }
        var results: [BenchStepResult] = []
        for level in try levels() {
            let r = try await runner.run(concurrency: level, limit: limit)
            results.append(r)
            if !json {
                print(BenchTable.row(r))
                if let e = r.firstError { FileHandle.standardError.write(Data("  first error: \(e)\n".utf8)) }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        }
        // A level where nothing succeeded measured nothing: fail, so scripts notice.
        if let dead = results.first(where: { $0.requests > 0 && $0.errors == $0.requests }) {
            throw CLIError("every request failed at concurrency \(dead.concurrency): \(dead.firstError ?? "unknown error")")
        }
    }

    /// `--openai`: one table row (or JSON object) per concurrency level.
    private func runOpenAI() async throws {
        guard transport == .rest, !binary else { throw CLIError("--openai speaks HTTP: leave out --protocol grpc and --binary") }
        guard maxTokens > 0 else { throw CLIError("--max-tokens must be positive") }
        let base = (url ?? "http://127.0.0.1:8000").hasSuffix("/") ? String((url ?? "").dropLast()) : (url ?? "http://127.0.0.1:8000")
        let bench = OpenAIBench(baseURL: base, model: model, prompt: prompt, maxTokens: maxTokens, authorization: authorization,
                                timeoutSeconds: Int64(timeoutSeconds))
        let limit: BenchLimit = requests.map { .requests($0) } ?? .seconds(durationSeconds ?? 5)
        var steps: [OpenAIBench.Step] = []
        if !json { print("model \(model)  max_tokens \(maxTokens)  streamed chat completions\n" + OpenAIBench.Step.header) }
        for level in try levels() {
            let step = try await bench.run(concurrency: level, limit: limit, warmup: warmup)
            steps.append(step)
            if !json {
                print(step.row)
                if let e = step.firstError { FileHandle.standardError.write(Data("  first error: \(e)\n".utf8)) }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(steps), as: UTF8.self))
        }
        if let dead = steps.first(where: { $0.requests > 0 && $0.errors == $0.requests }) {
            throw CLIError("every request failed at concurrency \(dead.concurrency): \(dead.firstError ?? "unknown error")")
        }
    }

    /// The `Authorization` value: --api-key, else $BERTH_API_KEY; nil: none.
    var authorization: String? {
        (apiKey ?? ProcessInfo.processInfo.environment["BERTH_API_KEY"]).map { "Bearer \($0)" }
    }

    /// HTTP/2 connections a gRPC level opens at most; loops share them round robin.
    static let grpcConnections = 4

    /// The model metadata over gRPC, with an error that names the address.
    private func fetchGRPCMetadata() async throws -> V2ModelMetadata {
        let address = try grpcAddress()
        let client = try InferenceGRPCClient(host: address.host, port: address.port, authorization: authorization)
        do {
            let m = try await client.modelMetadata(name: model, version: modelVersion)
            await client.close()
            return m
        } catch {
            await client.close()
            throw CLIError("ModelMetadata at \(address.host):\(address.port): \(error)")
        }
    }

    /// GETs the V2 model metadata, with an error that says what went wrong.
    private func fetchMetadata(_ modelURL: String) async throws -> V2ModelMetadata {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            var request = HTTPClientRequest(url: modelURL)
            if let authorization { request.headers.add(name: "Authorization", value: authorization) }
            let response = try await client.execute(request, timeout: .seconds(Int64(timeoutSeconds)))
            let body = try await response.body.collect(upTo: 64 << 20)
            let data = Data(body.readableBytesView)
            try await client.shutdown()
            guard response.status.code == 200 else {
                let message = (try? CodableJSON.decoder.decode(V2ErrorBody.self, from: data))?.error
                    ?? String(decoding: data, as: UTF8.self)
                throw CLIError("GET \(modelURL): HTTP \(response.status.code): \(message)")
            }
            do {
                return try CodableJSON.decoder.decode(V2ModelMetadata.self, from: data)
            } catch {
                throw CLIError("GET \(modelURL): not V2 model metadata: \(error)")
            }
        } catch let error as CLIError {
            try? await client.shutdown()
            throw error
        } catch {
            try? await client.shutdown()
            throw CLIError("GET \(modelURL): \(error)")
        }
    }

    private func percentEncoded(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? s
    }
}

/// The wire `berth bench` speaks.
enum BenchProtocol: String, ExpressibleByArgument, Sendable {
    case rest, grpc
}

/// The text table `berth bench` prints, one row per concurrency level.
enum BenchTable {
    static let header = [("concurrency", 11), ("requests", 9), ("errors", 7), ("infer/s", 10), ("rows/s", 11),
                         ("p50 ms", 9), ("p90 ms", 9), ("p99 ms", 9)]
        .map { String(repeating: " ", count: max(0, $0.1 - $0.0.count)) + $0.0 }
        .joined(separator: " ")

    static func row(_ r: BenchStepResult) -> String {
        String(format: "%11d %9d %7d %10.1f %11.1f %9.3f %9.3f %9.3f", r.concurrency, r.requests, r.errors,
               r.inferPerSecond, r.rowsPerSecond, r.p50Ms, r.p90Ms, r.p99Ms)
    }
}
