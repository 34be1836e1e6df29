import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// Unary gRPC calls over one plaintext HTTP/2 connection, handled on the connection channel
/// (``FastGRPCClientHandler``) instead of grpc-swift's client machinery (a child channel, async
/// streams and a task group per RPC): what `berth bench --protocol grpc` sends through
/// ``InferenceGRPCClient``. Connects on the first call and again after the server closed the
/// connection (GOAWAY, reset); a failed connect fails the call as `unavailable`.
///
/// All mutable state lives on ``loop``; callers on other threads hop to it once per call.
final class FastGRPCClient: @unchecked Sendable {
    /// A call waiting for the connection.
    private struct Start {
        let headers: HPACKHeaders
        let framedRequest: ByteBuffer
        let maxResponseBytes: Int
        let completion: FastGRPCClientHandler.Completion
    }

    let host: String
    let port: Int
    /// The event loop the connection, its handler and this object's state run on.
    let loop: any EventLoop
    /// Runs tasks on ``loop``: a caller that prefers it starts and finishes calls without a thread hop.
    let executor: FastGRPCLoopExecutor
    /// Receive window per stream and for the connection.
    private let window: Int
    /// Each call's time limit (nil: none).
    private let timeout: TimeAmount?
    // Loop-only state.
    private var handler: FastGRPCClientHandler?
    private var channel: (any Channel)?
    private var connecting: EventLoopFuture<any Channel>?
    private var waiting: [Start] = []
    private var closed = false

    init(host: String, port: Int, window: Int = 1 << 20, timeout: TimeAmount? = nil,
         group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.timeout = timeout
        self.host = host
        self.port = port
        self.window = window
        loop = group.next()
        executor = FastGRPCLoopExecutor(loop: loop)
    }

    deinit {
        if let channel { loop.execute { channel.close(promise: nil) } }
    }

    /// The request headers of a unary call to `path` (e.g. `/inference.GRPCInferenceService/ModelInfer`)
    /// with `metadata`; built once, sent with every call.
    /// The timeout is the client's alone, as the REST bench client's is: no `grpc-timeout` is sent,
    /// which would cost GRPCCore's server a timer task per call.
    func requestHeaders(path: String, metadata: [(key: String, value: String)]) -> HPACKHeaders {
        FastGRPCHeaders.clientRequest(path: path, authority: "\(host):\(port)", metadata: metadata)
    }

    /// A serialized message with gRPC's 5-byte prefix (uncompressed flag, big-endian length), ready to send many times.
    static func framed(_ message: some Collection<UInt8>) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 5 + message.count)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(truncatingIfNeeded: message.count))
        buffer.writeBytes(message)
        return buffer
    }

    /// Sends one unary call and returns its response message; a non-OK status, a reset stream or a
    /// lost connection is thrown as `RPCError` (connection failures as `unavailable`).
    func unary(headers: HPACKHeaders, framedRequest: ByteBuffer, maxResponseBytes: Int) async throws -> ByteBuffer {
        try await withUnsafeThrowingContinuation { completion in
            let start = Start(headers: headers, framedRequest: framedRequest, maxResponseBytes: maxResponseBytes, completion: completion)
            if loop.inEventLoop {
                self.start(start)
            } else {
                loop.execute { self.start(start) }
            }
        }
    }

    /// Lets the calls in flight finish, then closes the connection; later calls fail as `unavailable`.
    func close() async {
        let done: EventLoopFuture<Void> = loop.flatSubmit {
            self.closed = true
            if let connecting = self.connecting {
                // The waiting calls start once connected; the connection closes after them.
                return connecting.flatMap { $0.closeFuture }.recover { _ in }
            }
            guard let channel = self.channel, let handler = self.handler else { return self.loop.makeSucceededVoidFuture() }
            handler.closeGracefully()
            return channel.closeFuture
        }
        try? await done.get()
    }

    // MARK: On the loop

    private func start(_ start: Start) {
        if closed && connecting == nil {
            return start.completion.resume(throwing: RPCError(code: .unavailable, message: "The gRPC client is closed."))
        }
        if let handler, handler.isUsable {
            return handler.start(headers: start.headers, framedRequest: start.framedRequest, maxResponseBytes: start.maxResponseBytes,
                                 completion: start.completion)
        }
        waiting.append(start)
        if connecting == nil { connect() }
    }

    private func connect() {
        handler = nil
        channel = nil
        let handler = FastGRPCClientHandler(window: window, timeout: timeout)
        let settings = HTTP2Settings([
            HTTP2Setting(parameter: .enablePush, value: 0),
            HTTP2Setting(parameter: .initialWindowSize, value: window),
            // Large answers in fewer DATA frames (HTTP/2's default is 16 KiB).
            HTTP2Setting(parameter: .maxFrameSize, value: 1 << 20),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
        ])
        let future = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .client, initialSettings: settings))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port)
        connecting = future
        future.whenComplete { result in
            self.connecting = nil
            let waiting = self.waiting
            self.waiting = []
            switch result {
            case .success(let channel):
                self.channel = channel
                self.handler = handler
                for s in waiting {
                    handler.start(headers: s.headers, framedRequest: s.framedRequest, maxResponseBytes: s.maxResponseBytes, completion: s.completion)
                }
                if self.closed { handler.closeGracefully() }
            case .failure(let error):
                let failure = RPCError(code: .unavailable, message: "Could not connect to \(self.host):\(self.port): \(error)")
                for s in waiting { s.completion.resume(throwing: failure) }
            }
        }
    }
}
