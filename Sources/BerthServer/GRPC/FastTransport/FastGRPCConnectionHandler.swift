import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One HTTP/2 connection's gRPC calls, on the connection channel itself: NIOHTTP2Handler below it
/// parses frames and does HPACK, stream state, outbound flow control and PING answers; this handler
/// turns each stream's frames into a ``FastGRPCCall`` and its response parts back into frames.
/// No child channel per stream (the cost the NIO transport's multiplexer pays per RPC).
final class FastGRPCConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// A new call, handed to the transport to run.
    typealias Accept = @Sendable (FastGRPCCall) -> Void

    private struct Stream {
        let call: FastGRPCCall
        /// Bytes of a message not yet complete (5-byte prefix included).
        var pending: ByteBuffer?
        var sentHeaders = false
        var sentEnd = false
        /// A refused message (too large, compressed): later DATA is dropped.
        var failed = false
    }

    private let methods: [String: MethodDescriptor]
    private let maxMessageSize: Int
    private let window: Int
    private let accept: Accept
    private let onLoop: Bool
    private var executor: FastGRPCLoopExecutor?
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var context: ChannelHandlerContext?
    private var connectionWindowUnacked = 0
    private var flushes = FastGRPCFlushes()
    private var quiescing = false
    private var lastStreamID = HTTP2StreamID.rootStream

    init(methods: [String: MethodDescriptor], maxMessageSize: Int, window: Int, onLoop: Bool, accept: @escaping Accept) {
        self.methods = methods
        self.onLoop = onLoop
        self.maxMessageSize = maxMessageSize
        self.window = window
        self.accept = accept
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if onLoop { executor = FastGRPCLoopExecutor(loop: context.eventLoop) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        // The connection window starts at 65,535 whatever SETTINGS say; raise it to ours.
        if window > 65_535 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: window - 65_535))),
                          promise: nil)
            context.flush()
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        flushes.beginRead()
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            receivedHeaders(headers, on: frame.streamID, context: context)
        case .data(let data):
            receivedData(data, on: frame.streamID, context: context)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if flushes.endRead() { context.flush() }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent {
            if let stream = streams.removeValue(forKey: closed.streamID) {
                // Closed before the call answered: the client reset it (or the connection failed it).
                if !stream.sentEnd || closed.reason != nil {
                    stream.call.cancel(RPCError(code: .cancelled, message: "The client reset the stream (\(closed.reason.map { "\($0)" } ?? "closed"))."))
                }
            }
            closeIfQuiesced(context: context)
        } else if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: refuse new streams, finish the running ones, then close.
            quiescing = true
            context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream,
                                                             payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))),
                                  promise: nil)
            closeIfQuiesced(context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let open = streams
        streams.removeAll()
        for (_, stream) in open { stream.call.cancel(RPCError(code: .unavailable, message: "Stream unexpectedly closed.")) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A connection-level protocol error (NIOHTTP2 has sent GOAWAY): nothing more to serve here.
        if error is NIOHTTP2Errors.StreamError { return }
        context.close(promise: nil)
    }

    // MARK: Inbound frames

    private func receivedHeaders(_ payload: HTTP2Frame.FramePayload.Headers, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        if let stream = streams[id] {
            // Trailers from the client are not part of gRPC; a half-close is all they can mean.
            if payload.endStream { stream.call.finishInbound(nil) }
            return
        }
        lastStreamID = max(lastStreamID, id)
        switch FastGRPCHeaders.request(payload.headers, methods: methods) {
        case .reject(let headers):
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: true)))), promise: nil)
            flushes.written()
        case .call(let descriptor, let metadata):
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let call = FastGRPCCall(
                streamID: Int(id), descriptor: descriptor, metadata: metadata, loop: context.eventLoop, executor: executor, window: window,
                flushOutbound: { call in loopBound.value.send(call) },
                grantWindow: { stream, bytes in loopBound.value.grantStreamWindow(stream, bytes) })
            streams[id] = Stream(call: call)
            if payload.endStream { call.finishInbound(nil) }
            accept(call)
        }
    }

    private func receivedData(_ payload: HTTP2Frame.FramePayload.Data, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard case .byteBuffer(var bytes) = payload.data else { return }
        let flowControlled = bytes.readableBytes + (payload.paddingBytes.map { $0 + 1 } ?? 0)
        // The connection window is granted on receipt: each stream's own window bounds what it buffers.
        connectionWindowUnacked += flowControlled
        if connectionWindowUnacked >= window / 2 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: connectionWindowUnacked))),
                          promise: nil)
            connectionWindowUnacked = 0
            flushes.written()
        }
        guard var stream = streams[id], !stream.failed else { return }
        var messages: [ByteBuffer] = []
        var failure: RPCError?
        if var pending = stream.pending {
            // Drop the other references first, so the append grows the buffer instead of copying it per frame.
            stream.pending = nil
            streams[id]?.pending = nil
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        // gRPC's length-prefixed messages: a flag byte, a 4-byte big-endian length, the message.
        while bytes.readableBytes >= 5 {
            let flag = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self)!
            let length = Int(bytes.getInteger(at: bytes.readerIndex + 1, as: UInt32.self)!)
            if flag != 0 {
                failure = RPCError(code: .internalError, message: "A compressed message arrived but no grpc-encoding was agreed.")
                break
            }
            if length > maxMessageSize {
                failure = RPCError(code: .resourceExhausted,
                                   message: "Message has exceeded the configured maximum payload size (max: \(maxMessageSize), actual: \(length))")
                break
            }
            guard bytes.readableBytes >= 5 + length else { break }
            bytes.moveReaderIndex(forwardBy: 5)
            messages.append(bytes.readSlice(length: length)!)
        }
        if let failure {
            stream.failed = true
            stream.pending = nil
            streams[id] = stream
            stream.call.finishInbound(failure)
            grantStreamWindow(Int(id), flowControlled)
            return
        }
        stream.pending = bytes.readableBytes > 0 ? bytes : nil
        streams[id] = stream
        let grant = stream.call.received(messages, flowControlled: flowControlled)
        if grant > 0 && !payload.endStream { grantStreamWindow(Int(id), grant) }
        if payload.endStream {
            if stream.pending != nil {
                stream.call.finishInbound(RPCError(code: .internalError, message: "The stream ended inside a message."))
            } else {
                stream.call.finishInbound(nil)
            }
        }
    }

    // MARK: Outbound

    /// Gives a stream back window for bytes its handler has read (run on the loop).
    fileprivate func grantStreamWindow(_ id: Int, _ bytes: Int) {
        guard let context, bytes > 0, let stream = streams[HTTP2StreamID(id)], !stream.sentEnd else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: HTTP2StreamID(id), payload: .windowUpdate(windowSizeIncrement: bytes))), promise: nil)
        flushes.written()
        if flushes.flushDueNow() { context.flush() }
    }

    /// Sends the response parts a call has queued, in one flush (run on the loop).
    fileprivate func send(_ call: FastGRPCCall) {
        let parts = call.takeOutbound()
        guard let context else { return }
        let id = HTTP2StreamID(call.streamID)
        guard var stream = streams[id], !stream.sentEnd else { return }
        for part in parts {
            switch part {
            case .metadata(let metadata):
                guard !stream.sentHeaders else { continue }
                stream.sentHeaders = true
                context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: FastGRPCHeaders.response(metadata))))),
                              promise: nil)
            case .message(let bytes):
                if !stream.sentHeaders {
                    stream.sentHeaders = true
                    context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: FastGRPCHeaders.response([:]))))),
                                  promise: nil)
                }
                var framed = context.channel.allocator.buffer(capacity: 5 + bytes.count)
                framed.writeInteger(UInt8(0))
                framed.writeInteger(UInt32(truncatingIfNeeded: bytes.count))
                var body = bytes.buffer
                framed.writeBuffer(&body)
                context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(framed))))), promise: nil)
            case .status(let status, let metadata):
                let trailers = FastGRPCHeaders.trailers(status, metadata: metadata, trailersOnly: !stream.sentHeaders)
                stream.sentHeaders = true
                stream.sentEnd = true
                context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: trailers, endStream: true)))),
                              promise: nil)
            }
            if stream.sentEnd { break }
        }
        streams[id] = stream
        flushes.written()
        if flushes.flushDueNow() { context.flush() }
    }

    private func closeIfQuiesced(context: ChannelHandlerContext) {
        if quiescing && streams.isEmpty { context.close(promise: nil) }
    }
}
