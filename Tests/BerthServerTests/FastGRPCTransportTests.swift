@testable import BerthServer
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import XCTest

/// The fast gRPC transport against grpc-swift-nio-transport's, the reference: the same small service
/// on each, called by grpc-swift's own HTTP/2 client, must give the same answers (messages, initial
/// and trailing metadata, status code and message) for unary and bidirectional calls, errors, an
/// unknown method, an oversized request and a deadline.
final class FastGRPCTransportTests: XCTestCase {
    /// Raw bytes in and out, so the test needs no generated code.
    struct Raw: MessageSerializer, MessageDeserializer {
        func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
        func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] { bytes.withUnsafeBytes { Array($0) } }
    }

    static let echo = MethodDescriptor(fullyQualifiedService: "test.Echo", method: "Echo")
    static let fail = MethodDescriptor(fullyQualifiedService: "test.Echo", method: "Fail")
    static let slow = MethodDescriptor(fullyQualifiedService: "test.Echo", method: "Slow")
    static let unknown = MethodDescriptor(fullyQualifiedService: "test.Echo", method: "Nope")

    /// Echo answers every message (reversed) with the caller's `x-echo` metadata back, and a trailer;
    /// Fail throws a status whose message needs percent-encoding; Slow waits for cancellation.
    struct EchoService: RegistrableRPCService {
        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.registerHandler(forMethod: FastGRPCTransportTests.echo, deserializer: Raw(), serializer: Raw()) { request, _ in
                let echo = request.metadata[stringValues: "x-echo"].first(where: { _ in true }) ?? "-"
                return StreamingServerResponse(metadata: ["x-echo": .string(echo), "x-bin-bin": .binary([0, 1, 255])]) { writer in
                    for try await m in request.messages { try await writer.write(Array(m.reversed())) }
                    return ["x-trailer": "done"]
                }
            }
            router.registerHandler(forMethod: FastGRPCTransportTests.fail, deserializer: Raw(), serializer: Raw()) { request, _ in
                for try await _ in request.messages {}
                throw RPCError(code: .invalidArgument, message: "bad input: 100% ünïcode\nline", metadata: ["x-why": "because"])
            }
            router.registerHandler(forMethod: FastGRPCTransportTests.slow, deserializer: Raw(), serializer: Raw()) { request, context in
                for try await _ in request.messages {}
                while !context.cancellation.isCancelled { try await Task.sleep(for: .milliseconds(5)) }
                throw RPCError(code: .deadlineExceeded, message: "cancelled by the deadline")
            }
        }
    }

    /// What a call saw, compared between transports.
    struct Outcome: Equatable {
        var code: String
        var message: String
        var messages: [[UInt8]] = []
        var metadata: [String] = []
        var trailers: [String] = []
    }

    private func call(port: Int, _ method: MethodDescriptor, _ messages: [[UInt8]], metadata: Metadata = [:],
                      timeout: Duration? = nil) async throws -> Outcome {
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        let client = GRPCClient(transport: transport)
        let run = Task { try? await client.runConnections() }
        defer {
            client.beginGracefulShutdown()
            run.cancel()
        }
        var options = CallOptions.defaults
        options.timeout = timeout
        let request = StreamingClientRequest<[UInt8]>(metadata: metadata) { writer in
            for m in messages { try await writer.write(m) }
        }
        do {
            return try await exchange(client, method, request, options)
        } catch let e as RPCError {
            // The client's own deadline ends the call by throwing.
            return Outcome(code: "\(e.code)", message: e.message)
        }
    }

    private func exchange(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ method: MethodDescriptor,
                          _ request: StreamingClientRequest<[UInt8]>, _ options: CallOptions) async throws -> Outcome {
        try await client.bidirectionalStreaming(request: request, descriptor: method, serializer: Raw(), deserializer: Raw(),
                                                        options: options) { response in
            func pairs(_ m: Metadata) -> [String] {
                m.filter { $0.key.hasPrefix("x-") }.map { pair -> String in
                    switch pair.value {
                    case .string(let v): return "\(pair.key)=\(v)"
                    case .binary(let v): return "\(pair.key)=\(v)"
                    }
                }.sorted()
            }
            switch response.accepted {
            case .failure(let e):
                return Outcome(code: "\(e.code)", message: e.message, trailers: pairs(e.metadata))
            case .success(let contents):
                var outcome = Outcome(code: "ok", message: "", metadata: pairs(contents.metadata))
                do {
                    for try await part in contents.bodyParts {
                        switch part {
                        case .message(let m): outcome.messages.append(m)
                        case .trailingMetadata(let t): outcome.trailers = pairs(t)
                        }
                    }
                } catch let e as RPCError {
                    outcome.code = "\(e.code)"
                    outcome.message = e.message
                    outcome.trailers = pairs(e.metadata)
                }
                return outcome
            }
        }
    }

    /// Runs `body` against a server on the given transport, then shuts it down.
    private func withServer<T: ServerTransport>(_ transport: T, port: @escaping @Sendable () async -> Int?,
                                                _ body: (Int) async throws -> Void) async throws {
        let server = GRPCServer(transport: transport, services: [EchoService()])
        let serving = Task { try await server.serve() }
        guard let p = await port() else { return XCTFail("the server did not bind") }
        do { try await body(p) } catch {
            server.beginGracefulShutdown()
            throw error
        }
        server.beginGracefulShutdown()
        try await serving.value
    }

    private let maxMessage = 1 << 16

    private func scenarios(port: Int) async throws -> [String: Outcome] {
        var out: [String: Outcome] = [:]
        out["unary"] = try await call(port: port, Self.echo, [[1, 2, 3]], metadata: ["x-echo": "hello"])
        out["empty"] = try await call(port: port, Self.echo, [[]])
        out["stream"] = try await call(port: port, Self.echo, (0..<50).map { [UInt8($0), 7] }, metadata: ["x-echo": "s"])
        out["large"] = try await call(port: port, Self.echo, [[UInt8](repeating: 9, count: maxMessage)])
        out["fail"] = try await call(port: port, Self.fail, [[1]])
        out["unknown"] = try await call(port: port, Self.unknown, [[1]])
        out["deadline"] = try await call(port: port, Self.slow, [[1]], timeout: .milliseconds(50))
        // Compared apart: the NIO transport resets the stream (UNAVAILABLE at the client), the fast one
        // answers RESOURCE_EXHAUSTED, the status gRPC gives a message over the receiver's limit.
        out["too large"] = try await call(port: port, Self.echo, [[UInt8](repeating: 1, count: maxMessage + 1)])
        return out
    }

    func testFastTransportAnswersAsTheNIOTransportDoes() async throws {
        var reference: [String: Outcome] = [:]
        let nio = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext,
                                             config: .defaults { $0.rpc.maxRequestPayloadSize = self.maxMessage })
        try await withServer(nio, port: { try? await nio.listeningAddress.ipv4?.port }) { reference = try await self.scenarios(port: $0) }

        XCTAssertEqual(reference.count, 8)
        // Handlers on the connection's event loop (the default) and on the global executor.
        for onLoop in [true, false] {
            var fast: [String: Outcome] = [:]
            let transport = FastGRPCServerTransport(host: "127.0.0.1", port: 0, maxMessageSize: maxMessage, onLoop: onLoop)
            try await withServer(transport, port: { await transport.boundPort }) { fast = try await self.scenarios(port: $0) }
            for (name, expected) in reference.sorted(by: { $0.key < $1.key }) where name != "too large" {
                XCTAssertEqual(fast[name], expected, "scenario \(name), onLoop \(onLoop)")
            }
            XCTAssertEqual(fast["too large"]?.code, "\(RPCError.Code.resourceExhausted)")
            XCTAssertEqual(fast["too large"]?.message,
                           "Message has exceeded the configured maximum payload size (max: \(maxMessage), actual: \(maxMessage + 1))")
            XCTAssertEqual(fast["too large"]?.messages, [])
        }
        // And the reference says what it should: an echo, the error's text, the standard codes.
        XCTAssertEqual(reference["unary"]?.messages, [[3, 2, 1]])
        XCTAssertEqual(reference["unary"]?.metadata, ["x-bin-bin=[0, 1, 255]", "x-echo=hello"])
        XCTAssertEqual(reference["unary"]?.trailers, ["x-trailer=done"])
        XCTAssertEqual(reference["stream"]?.messages.count, 50)
        XCTAssertEqual(reference["fail"]?.code, "\(RPCError.Code.invalidArgument)")
        XCTAssertEqual(reference["fail"]?.message, "bad input: 100% ünïcode\nline")
        XCTAssertEqual(reference["unknown"]?.code, "\(RPCError.Code.unimplemented)")
        XCTAssertEqual(reference["deadline"]?.code, "\(RPCError.Code.deadlineExceeded)")
        XCTAssertNotEqual(reference["too large"]?.code, "ok")
    }

    func testGRPCMessageEncoding() {
        // gRPC's HTTP/2 protocol document: percent-encode bytes outside 0x20–0x7E and '%' itself.
        XCTAssertEqual(FastGRPCHeaders.percentEncoded("plain text"), "plain text")
        XCTAssertEqual(FastGRPCHeaders.percentEncoded("100% ü\n"), "100%25 %C3%BC%0A")
        XCTAssertEqual(FastGRPCHeaders.base64Decode("AAH/"), [0, 1, 255])
        XCTAssertEqual(FastGRPCHeaders.base64Decode("AAE"), [0, 1])
    }
}
