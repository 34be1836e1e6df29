@testable import BerthServer
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOPosix
import XCTest

/// The fast unary gRPC client (``FastGRPCClient``, behind `berth bench --protocol grpc`) against
/// grpc-swift's own HTTP/2 client, the reference: the same calls to the same server (on the fast
/// transport and on grpc-swift-nio-transport's) must end the same way — message, status code and
/// message — for an echo, a ~1 MiB request (HTTP/2 flow control), errors, an unknown method,
/// metadata the server checks, and requests over the server's size limit. Then what the reference
/// is not needed for: many concurrent calls on one connection, a response over the client's limit,
/// and the server going away mid-run (every call ends, as `unavailable` when it was not answered).
final class FastGRPCClientTests: XCTestCase {
    struct Raw: MessageSerializer, MessageDeserializer {
        func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
        func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] { bytes.withUnsafeBytes { Array($0) } }
    }

    static let echo = MethodDescriptor(fullyQualifiedService: "test.Client", method: "Echo")
    static let fail = MethodDescriptor(fullyQualifiedService: "test.Client", method: "Fail")
    static let auth = MethodDescriptor(fullyQualifiedService: "test.Client", method: "Auth")
    static let slow = MethodDescriptor(fullyQualifiedService: "test.Client", method: "Slow")
    static let unknown = MethodDescriptor(fullyQualifiedService: "test.Client", method: "Nope")
    static let key = "Bearer k-123"

    /// Echo answers the message reversed; Fail throws a status whose message needs percent-encoding;
    /// Auth answers only a caller whose `authorization` is ``key``; Slow echoes after 20 ms.
    struct Service: RegistrableRPCService {
        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.registerHandler(forMethod: FastGRPCClientTests.echo, deserializer: Raw(), serializer: Raw()) { request, _ in
                var answer: [UInt8] = []
                for try await m in request.messages { answer = Array(m.reversed()) }
                return StreamingServerResponse(single: ServerResponse(message: answer))
            }
            router.registerHandler(forMethod: FastGRPCClientTests.fail, deserializer: Raw(), serializer: Raw()) { request, _ in
                for try await _ in request.messages {}
                throw RPCError(code: .invalidArgument, message: "bad input: 100% ünïcode\nline")
            }
            router.registerHandler(forMethod: FastGRPCClientTests.auth, deserializer: Raw(), serializer: Raw()) { request, _ in
                for try await _ in request.messages {}
                guard request.metadata[stringValues: "authorization"].contains(FastGRPCClientTests.key) else {
                    throw RPCError(code: .unauthenticated, message: "no valid key")
                }
                return StreamingServerResponse(single: ServerResponse(message: [1]))
            }
            router.registerHandler(forMethod: FastGRPCClientTests.slow, deserializer: Raw(), serializer: Raw()) { request, _ in
                var answer: [UInt8] = []
                for try await m in request.messages { answer = m }
                try await Task.sleep(for: .milliseconds(20))
                return StreamingServerResponse(single: ServerResponse(message: answer))
            }
        }
    }

    /// How a call ended, compared between clients.
    struct Outcome: Equatable, CustomStringConvertible {
        var code: String
        var message: String
        var bytes: [UInt8] = []
        var description: String { "\(code) \"\(message)\" \(bytes.count) B" }
    }

    private static let maxMessage = 2 << 20

    /// The reference: grpc-swift's client on grpc-swift-nio-transport.
    private func referenceCall(port: Int, _ method: MethodDescriptor, _ message: [UInt8], metadata: Metadata) async throws -> Outcome {
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        let client = GRPCClient(transport: transport)
        let run = Task { try? await client.runConnections() }
        defer {
            client.beginGracefulShutdown()
            run.cancel()
        }
        var options = CallOptions.defaults
        options.maxRequestMessageBytes = Self.maxMessage * 2
        options.maxResponseMessageBytes = Self.maxMessage * 2
        do {
            let bytes = try await client.unary(request: ClientRequest(message: message, metadata: metadata), descriptor: method,
                                               serializer: Raw(), deserializer: Raw(), options: options) { try $0.message }
            return Outcome(code: "ok", message: "", bytes: bytes)
        } catch let e as RPCError {
            return Outcome(code: "\(e.code)", message: e.message)
        }
    }

    private static func fastCall(_ client: FastGRPCClient, _ method: MethodDescriptor, _ message: [UInt8],
                          metadata: [(key: String, value: String)] = [], maxResponse: Int? = nil) async -> Outcome {
        let headers = client.requestHeaders(path: "/" + method.fullyQualifiedMethod, metadata: metadata)
        do {
            let bytes = try await client.unary(headers: headers, framedRequest: FastGRPCClient.framed(message),
                                               maxResponseBytes: maxResponse ?? Self.maxMessage * 2)
            return Outcome(code: "ok", message: "", bytes: Array(bytes.readableBytesView))
        } catch let e as RPCError {
            return Outcome(code: "\(e.code)", message: e.message)
        } catch {
            return Outcome(code: "not an RPCError", message: "\(error)")
        }
    }

    /// The calls both clients make; `large` is ~1 MiB, 16 times the 64 KiB HTTP/2 default window.
    private static let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    private let scenarios: [(name: String, method: MethodDescriptor, message: [UInt8], key: String?)] = [
        ("unary", echo, [1, 2, 3], nil),
        ("empty", echo, [], nil),
        ("large", echo, large, nil),
        ("fail", fail, [1], nil),
        ("unknown", unknown, [1], nil),
        ("auth with key", auth, [1], key),
        ("auth without key", auth, [1], nil),
        ("auth wrong key", auth, [1], "Bearer nope"),
        ("over the server's limit", echo, [UInt8](repeating: 1, count: (2 << 20) + 1), nil),
    ]

    /// Runs `body` against a server on `transport`, then shuts it down.
    private func withServer<T: ServerTransport>(_ transport: T, port: @escaping @Sendable () async -> Int?,
                                                _ body: (Int) async throws -> Void) async throws {
        let server = GRPCServer(transport: transport, services: [Service()])
        let serving = Task { try await server.serve() }
        guard let p = await port() else { return XCTFail("the server did not bind") }
        do { try await body(p) } catch {
            server.beginGracefulShutdown()
            throw error
        }
        server.beginGracefulShutdown()
        try await serving.value
    }

    private func servers(_ body: (String, Int) async throws -> Void) async throws {
        let nio = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext,
                                             config: .defaults { $0.rpc.maxRequestPayloadSize = Self.maxMessage })
        try await withServer(nio, port: { try? await nio.listeningAddress.ipv4?.port }) { try await body("nio", $0) }
        let fast = FastGRPCServerTransport(host: "127.0.0.1", port: 0, maxMessageSize: Self.maxMessage)
        try await withServer(fast, port: { await fast.boundPort }) { try await body("fast", $0) }
    }

    func testAnswersAsGRPCSwiftsClientDoes() async throws {
        try await servers { server, port in
            let client = FastGRPCClient(host: "127.0.0.1", port: port)
            for s in scenarios {
                let metadata: Metadata = s.key.map { ["authorization": .string($0)] } ?? [:]
                let expected = try await referenceCall(port: port, s.method, s.message, metadata: metadata)
                let got = await Self.fastCall(client, s.method, s.message, metadata: s.key.map { [("authorization", $0)] } ?? [])
                if s.name == "over the server's limit" && server == "nio" {
                    // grpc-swift-nio-transport resets the stream: its client reports UNAVAILABLE, this one the
                    // RST_STREAM's code (both end the call with an error and no message).
                    XCTAssertNotEqual(got.code, "ok", "\(server) \(s.name)")
                    XCTAssertNotEqual(expected.code, "ok")
                    continue
                }
                XCTAssertEqual(got, expected, "\(server) server, scenario \(s.name)")
            }
            await client.close()
        }
    }

    /// What the reference says must hold too, so an agreement on a wrong answer fails.
    func testTheReferenceAnswersWhatTheServiceDoes() async throws {
        try await servers { server, port in
            let client = FastGRPCClient(host: "127.0.0.1", port: port)
            var got = await Self.fastCall(client, Self.echo, Self.large)
            XCTAssertEqual(got.bytes, Array(Self.large.reversed()), server)
            got = await Self.fastCall(client, Self.fail, [1])
            XCTAssertEqual(got, Outcome(code: "\(RPCError.Code.invalidArgument)", message: "bad input: 100% ünïcode\nline"), server)
            got = await Self.fastCall(client, Self.auth, [1])
            XCTAssertEqual(got, Outcome(code: "\(RPCError.Code.unauthenticated)", message: "no valid key"), server)
            got = await Self.fastCall(client, Self.unknown, [1])
            XCTAssertEqual(got.code, "\(RPCError.Code.unimplemented)", server)
            if server == "fast" {
                got = await Self.fastCall(client, Self.echo, [UInt8](repeating: 1, count: Self.maxMessage + 1))
                XCTAssertEqual(got.code, "\(RPCError.Code.resourceExhausted)")
            }
            await client.close()
        }
    }

    func testConcurrentCallsOnOneConnectionGetTheirOwnAnswers() async throws {
        try await servers { server, port in
            let client = FastGRPCClient(host: "127.0.0.1", port: port)
            // 64 calls at once, some of them 200 KiB (several windows' worth in flight together).
            let outcomes = await withTaskGroup(of: (Int, Outcome).self) { group in
                for i in 0..<64 {
                    group.addTask {
                        let message = (0..<(i % 4 == 0 ? 200_000 : 16 + i)).map { UInt8(truncatingIfNeeded: $0 ^ i) }
                        let method = i % 8 == 7 ? Self.fail : Self.echo
                        return (i, await Self.fastCall(client, method, message))
                    }
                }
                return await group.reduce(into: [Int: Outcome]()) { $0[$1.0] = $1.1 }
            }
            for (i, outcome) in outcomes {
                if i % 8 == 7 {
                    XCTAssertEqual(outcome.code, "\(RPCError.Code.invalidArgument)", "\(server) call \(i)")
                } else {
                    let message = (0..<(i % 4 == 0 ? 200_000 : 16 + i)).map { UInt8(truncatingIfNeeded: $0 ^ i) }
                    XCTAssertEqual(outcome.bytes, Array(message.reversed()), "\(server) call \(i)")
                }
            }
            XCTAssertEqual(outcomes.count, 64)
            await client.close()
        }
    }

    func testResponseOverTheClientsLimitIsResourceExhausted() async throws {
        try await servers { server, port in
            let client = FastGRPCClient(host: "127.0.0.1", port: port)
            let got = await Self.fastCall(client, Self.echo, [UInt8](repeating: 3, count: 100_000), maxResponse: 99_999)
            XCTAssertEqual(got, Outcome(code: "\(RPCError.Code.resourceExhausted)",
                                        message: "Message has exceeded the configured maximum payload size (max: 99999, actual: 100000)"), server)
            // The connection stays usable after the reset stream.
            let next = await Self.fastCall(client, Self.echo, [1, 2])
            XCTAssertEqual(next.bytes, [2, 1], server)
            await client.close()
        }
    }

    func testNoServerIsUnavailable() async throws {
        // A port nothing listens on (bound, then released).
        let port = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).flatMap { channel in
            let port = channel.localAddress!.port!
            return channel.close().map { port }
        }.get()
        let client = FastGRPCClient(host: "127.0.0.1", port: port)
        let got = await Self.fastCall(client, Self.echo, [1])
        XCTAssertEqual(got.code, "\(RPCError.Code.unavailable)")
        XCTAssertTrue(got.message.contains("Could not connect"), got.message)
        await client.close()
    }

    /// A server that accepts and then closes every connection: calls in flight fail as `unavailable`, none hangs.
    func testConnectionClosedByTheServerFailsPendingCalls() async throws {
        final class CloseOnRead: ChannelInboundHandler, Sendable {
            typealias InboundIn = ByteBuffer
            func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.close(promise: nil) }
        }
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(CloseOnRead()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = FastGRPCClient(host: "127.0.0.1", port: listener.localAddress!.port!)
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for _ in 0..<8 { group.addTask { await Self.fastCall(client, Self.echo, [1]) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.map(\.code), Array(repeating: "\(RPCError.Code.unavailable)", count: 8))
        await client.close()
        try await listener.close()
    }

    /// A server that reads and never answers: the call ends at the client's timeout as DEADLINE_EXCEEDED.
    func testNoAnswerEndsAtTheTimeout() async throws {
        final class Swallow: ChannelInboundHandler, Sendable {
            typealias InboundIn = ByteBuffer
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
        }
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Swallow()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = FastGRPCClient(host: "127.0.0.1", port: listener.localAddress!.port!, timeout: .milliseconds(200))
        let t0 = ContinuousClock.now
        let got = await Self.fastCall(client, Self.echo, [1])
        let elapsed = ContinuousClock.now - t0
        XCTAssertEqual(got, Outcome(code: "\(RPCError.Code.deadlineExceeded)", message: "No answer within 0.2 s."))
        // The sweep runs every 50 ms (a quarter of the timeout): the call ends between 200 and ~250 ms (2 s: a loaded machine).
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(200))
        XCTAssertLessThan(elapsed, .seconds(2))
        await client.close()
        try await listener.close()
    }

    /// The server shuts down gracefully while 16 loops call it: every call ends (answered, or
    /// `unavailable`), the loops see the failures, and nothing waits forever.
    func testServerStoppedMidRunEndsEveryCall() async throws {
        for name in ["fast", "nio"] {
            let server: GRPCServer<FastGRPCServerTransport>?
            let nioServer: GRPCServer<HTTP2ServerTransport.Posix>?
            let port: Int
            if name == "fast" {
                let t = FastGRPCServerTransport(host: "127.0.0.1", port: 0, maxMessageSize: Self.maxMessage)
                server = GRPCServer(transport: t, services: [Service()])
                nioServer = nil
                Task { try await server!.serve() }
                let bound = await t.boundPort
                port = try XCTUnwrap(bound)
            } else {
                let t = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
                nioServer = GRPCServer(transport: t, services: [Service()])
                server = nil
                Task { try await nioServer!.serve() }
                let bound = try await t.listeningAddress.ipv4?.port
                port = try XCTUnwrap(bound)
            }
            let client = FastGRPCClient(host: "127.0.0.1", port: port)
            let stopAt = ContinuousClock.now + .milliseconds(300)
            let finished = await within(seconds: 30) { await withTaskGroup(of: (ok: Int, unavailable: Int, other: [String]).self) { group in
                for loop in 0..<16 {
                    group.addTask {
                        var r = (ok: 0, unavailable: 0, other: [String]())
                        // Until well after the stop: by then calls are refused at connect.
                        while ContinuousClock.now < stopAt + .milliseconds(300) {
                            let o = await Self.fastCall(client, Self.slow, [UInt8(loop)])
                            if o.code == "ok" {
                                XCTAssertEqual(o.bytes, [UInt8(loop)])
                                r.ok += 1
                            } else if o.code == "\(RPCError.Code.unavailable)" {
                                r.unavailable += 1
                                try? await Task.sleep(for: .milliseconds(10))
                            } else {
                                r.other.append(o.description)
                            }
                        }
                        return r
                    }
                }
                group.addTask {
                    try? await Task.sleep(until: stopAt)
                    server?.beginGracefulShutdown()
                    nioServer?.beginGracefulShutdown()
                    return (0, 0, [])
                }
                return await group.reduce(into: (ok: 0, unavailable: 0, other: [String]())) {
                    $0.ok += $1.ok
                    $0.unavailable += $1.unavailable
                    $0.other += $1.other
                }
            } }
            let counts = try XCTUnwrap(finished, "\(name): a call did not end within 30 s")
            XCTAssertGreaterThan(counts.ok, 16, name)
            XCTAssertGreaterThan(counts.unavailable, 16, name)
            XCTAssertEqual(counts.other, [], name)
            await client.close()
        }
    }

    /// `body`'s result, or nil if it has not finished within `seconds` (its task is left running then).
    private func within<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async -> T) async -> T? {
        let (results, continuation) = AsyncStream.makeStream(of: T?.self)
        let work = Task { continuation.yield(await body()) }
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            continuation.yield(nil)
        }
        for await result in results {
            timer.cancel()
            _ = work
            return result
        }
        return nil
    }

    func testPercentDecodingInvertsTheEncoding() {
        for text in ["plain", "100% ünïcode\nline", "%", "%zz", "a%2"] {
            XCTAssertEqual(FastGRPCHeaders.percentDecoded(FastGRPCHeaders.percentEncoded(text)), text)
        }
        XCTAssertEqual(FastGRPCHeaders.percentDecoded("%zz%4"), "%zz%4")
        XCTAssertEqual(FastGRPCHeaders.percentDecoded("%C3%BC"), "ü")
    }
}
