import GRPCCore
import NIOCore
import NIOExtras
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// A GRPCCore `ServerTransport` over HTTP/2 (plaintext) that handles each connection's streams
/// on the connection channel (``FastGRPCConnectionHandler``) instead of a child channel and async
/// stream pair per RPC, as grpc-swift-nio-transport does. GRPCCore's server, router, generated
/// service code and deadlines (`grpc-timeout`, read by GRPCCore from the metadata) are unchanged.
/// `berth serve` uses it for plaintext gRPC unless `BERTH_GRPC_TRANSPORT=nio` (``GRPCServerService``).
final class FastGRPCServerTransport: ServerTransport, @unchecked Sendable {
    typealias Bytes = FastGRPCBytes

    private struct State {
        var methods: [String: MethodDescriptor] = [:]
        var quiescing: ServerQuiescingHelper?
        var shutdownRequested = false
    }

    private let host: String
    private let port: Int
    private let maxMessageSize: Int
    /// Each stream's receive window (and the connection's): what one stream may have unread.
    private let window: Int
    /// Run each call's handler on its connection's event loop (``FastGRPCLoopExecutor``).
    private let onLoop: Bool
    private let group: MultiThreadedEventLoopGroup
    private let state = Locked(State())
    private let bound: EventLoopPromise<Int?>

    init(host: String, port: Int, maxMessageSize: Int, window: Int = 1 << 20, onLoop: Bool = true,
         group: MultiThreadedEventLoopGroup = .singletonMultiThreadedEventLoopGroup) {
        self.onLoop = onLoop
        self.host = host
        self.port = port
        self.maxMessageSize = maxMessageSize
        self.window = window
        self.group = group
        bound = group.any().makePromise()
    }

    deinit { bound.succeed(nil) }

    /// The bound port once listening (nil if binding failed).
    var boundPort: Int? {
        get async { (try? await bound.futureResult.get()) ?? nil }
    }

    func configure(context: GRPCServerContext) {
        var byPath: [String: MethodDescriptor] = [:]
        for method in context.methods { byPath["/" + method.fullyQualifiedMethod] = method }
        state.withLock { $0.methods = byPath }
    }

    func listen(streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void) async throws {
        let (calls, continuation) = AsyncStream.makeStream(of: (FastGRPCCall, String, String).self)
        let quiescing = ServerQuiescingHelper(group: group)
        let methods = state.withLock { $0.methods }
        let maxMessageSize = self.maxMessageSize
        let window = self.window
        let onLoop = self.onLoop
        let settings = HTTP2Settings([
            HTTP2Setting(parameter: .initialWindowSize, value: window),
            HTTP2Setting(parameter: .maxFrameSize, value: 1 << 20),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
        ])
        let server: any Channel
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let remote = channel.remoteAddress.map { "\($0)" } ?? "<unknown>"
                        let local = channel.localAddress.map { "\($0)" } ?? "<unknown>"
                        try channel.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .server, initialSettings: settings))
                        try channel.pipeline.syncOperations.addHandler(FastGRPCConnectionHandler(
                            methods: methods, maxMessageSize: maxMessageSize, window: window, onLoop: onLoop,
                            accept: { call in continuation.yield((call, remote, local)) }))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            bound.succeed(nil)
            continuation.finish()
            throw RPCError(code: .unavailable, message: "The gRPC server could not listen on \(host):\(port).", cause: error)
        }
        bound.succeed(server.localAddress?.port)
        let stopNow = state.withLock { s -> Bool in
            s.quiescing = quiescing
            return s.shutdownRequested
        }
        if stopNow { beginGracefulShutdown() }
        // The calls end when the listener and every connection have closed.
        server.closeFuture.whenComplete { _ in
            let done = server.eventLoop.makePromise(of: Void.self)
            quiescing.initiateShutdown(promise: done)
            done.futureResult.whenComplete { _ in continuation.finish() }
        }

        await withDiscardingTaskGroup { group in
            for await (call, remote, local) in calls {
                group.addTask(executorPreference: call.executor) {
                    await withServerContextRPCCancellationHandle { handle in
                        call.attach(handle)
                        let context = ServerContext(descriptor: call.descriptor, remotePeer: remote, localPeer: local, cancellation: handle)
                        let stream = RPCStream(descriptor: call.descriptor,
                                               inbound: RPCAsyncSequence(wrapping: FastGRPCCall.Inbound(call: call)),
                                               outbound: RPCWriter.Closable(wrapping: FastGRPCCall.Outbound(call: call)))
                        await streamHandler(stream, context)
                    }
                }
            }
        }
    }

    /// Stops accepting connections and streams (GOAWAY); running calls finish, then connections close.
    func beginGracefulShutdown() {
        let quiescing = state.withLock { s -> ServerQuiescingHelper? in
            s.shutdownRequested = true
            return s.quiescing
        }
        quiescing?.initiateShutdown(promise: nil)
    }
}
