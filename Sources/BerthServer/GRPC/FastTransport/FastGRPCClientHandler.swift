import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// One client HTTP/2 connection's unary calls, on the connection channel (the client-side twin of
/// ``FastGRPCConnectionHandler``): NIOHTTP2Handler below it does HPACK, stream state and outbound
/// flow control (a large request waits in it for window); this handler opens a stream per call with
/// an id it allocates, writes the request's headers and framed message in one flush, reads the
/// response message and trailers, and completes the call's continuation. Runs on its channel's loop
/// (unchecked Sendable: its state is only touched there, as NIO handlers are).
final class FastGRPCClientHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// A unary call's completion: the response message, or an `RPCError`.
    typealias Completion = UnsafeContinuation<ByteBuffer, any Error>

    private struct Call {
        let completion: Completion
        let maxResponseBytes: Int
        /// When the call fails as DEADLINE_EXCEEDED if it has not ended (nil: never).
        let deadline: NIODeadline?
        /// Bytes of the response message received so far (5-byte prefix included), until complete.
        var pending: ByteBuffer?
        var message: ByteBuffer?
        var sawHeaders = false
        /// Received stream bytes not yet given back as window.
        var unacked = 0
    }

    /// The receive window of each stream and of the connection: what one response may send before reading stops.
    let window: Int
    private var calls: [HTTP2StreamID: Call] = [:]
    /// Streams whose request NIOHTTP2 has not finished writing (a large one waits for window). If the
    /// answer comes first (the server refused the call early), the stream is reset so the rest is dropped.
    private var unsent: Set<HTTP2StreamID> = []
    private var context: ChannelHandlerContext?
    private var nextStreamID = 1
    private var connectionUnacked = 0
    private var flushes = FastGRPCFlushes()
    /// Set when no new call may start here (GOAWAY, closed, ids used up, or the client closing).
    private(set) var failure: RPCError?
    /// Close once the calls in flight have finished.
    private var closeWhenIdle = false
    /// Until `channelActive` (which NIOHTTP2Handler sends its preface on, after the connect future
    /// has completed) new calls wait here.
    private var active = false
    private var beforeActive: [(HPACKHeaders, ByteBuffer, Int, Completion)] = []

    /// A call's time limit (nil: none), checked every ``sweepInterval`` rather than by a timer per call.
    let timeout: TimeAmount?
    private var sweep: RepeatedTask?

    init(window: Int, timeout: TimeAmount? = nil) {
        self.window = window
        self.timeout = timeout
    }

    /// How often calls are checked against their deadline: a quarter of the timeout, within 1–100 ms.
    var sweepInterval: TimeAmount {
        .nanoseconds(min(max((timeout?.nanoseconds ?? 0) / 4, 1_000_000), 100_000_000))
    }

    /// True if a new call can start on this connection.
    var isUsable: Bool { failure == nil && context != nil }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        sweep?.cancel()
        failAll(RPCError(code: .unavailable, message: "The connection closed."))
    }

    func channelActive(context: ChannelHandlerContext) {
        // The connection window starts at 65,535 whatever SETTINGS say; raise it to ours.
        if window > 65_535 {
            context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: window - 65_535))),
                                  promise: nil)
        }
        context.fireChannelActive()
        if timeout != nil {
            sweep = context.eventLoop.scheduleRepeatedTask(initialDelay: sweepInterval, delay: sweepInterval) { [weak self] _ in
                self?.failExpired()
            }
        }
        active = true
        let queued = beforeActive
        beforeActive = []
        for (headers, framed, max, completion) in queued {
            start(headers: headers, framedRequest: framed, maxResponseBytes: max, completion: completion)
        }
    }

    // MARK: Starting a call

    /// Opens a stream and sends `headers` and the framed request on it, flushed at once (run on the loop).
    func start(headers: HPACKHeaders, framedRequest: ByteBuffer, maxResponseBytes: Int, completion: Completion) {
        guard let context, failure == nil else {
            completion.resume(throwing: failure ?? RPCError(code: .unavailable, message: "The connection closed."))
            return
        }
        guard active else {
            beforeActive.append((headers, framedRequest, maxResponseBytes, completion))
            return
        }
        let id = HTTP2StreamID(nextStreamID)
        nextStreamID += 2
        if nextStreamID > Int(Int32.max) - 2 {
            // Client stream ids are odd and never reused: later calls go to a new connection.
            failure = RPCError(code: .unavailable, message: "The connection has used all its stream ids.")
            closeWhenIdle = true
        }
        calls[id] = Call(completion: completion, maxResponseBytes: maxResponseBytes, deadline: timeout.map { .now() + $0 })
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers)))), promise: nil)
        // A write NIOHTTP2 refuses (the peer sent GOAWAY meanwhile) fails the call instead of leaving it waiting.
        unsent.insert(id)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { [weak self] result in
            guard let self else { return }
            self.unsent.remove(id)
            if case .failure(let error) = result {
                self.fail(id, RPCError(code: .unavailable, message: "The request could not be sent: \(error)"), reset: nil, streamClosed: true)
            }
        }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(framedRequest), endStream: true)))),
                      promise: written)
        flushes.written()
        if flushes.flushDueNow() { context.flush() }
    }

    /// No new calls; close the connection once those in flight have finished (run on the loop).
    func closeGracefully() {
        if failure == nil { failure = RPCError(code: .unavailable, message: "The client is closed.") }
        closeWhenIdle = true
        closeIfIdle()
    }

    // MARK: Inbound frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        flushes.beginRead()
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            receivedHeaders(headers, on: frame.streamID, context: context)
        case .data(let data):
            receivedData(data, on: frame.streamID, context: context)
        case .goAway(let lastStreamID, let code, _):
            // Streams above the last one the server will answer were never seen by it: they fail as
            // unavailable (the caller may retry); the others finish, then the connection closes.
            if failure == nil {
                failure = RPCError(code: .unavailable, message: "The server is closing the connection (GOAWAY \(code)).")
            }
            closeWhenIdle = true
            guard code == .noError else {
                // A connection error: its sender must close the connection and answers nothing more
                // (grpc-swift-nio-transport's server, refusing a stream while quiescing, sends this and
                // keeps the socket open), so nothing left here can finish.
                failAll(RPCError(code: .unavailable, message: "The server ended the connection (GOAWAY \(code))."))
                context.close(promise: nil)
                return
            }
            for id in calls.keys where id > lastStreamID {
                fail(id, RPCError(code: .unavailable, message: "The server closed the connection before the call (GOAWAY \(code))."),
                     reset: nil, streamClosed: true)
            }
            closeIfIdle()
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
            // A call still here when its stream closes got no trailers: reset by the server or by HTTP/2.
            if calls[closed.streamID] != nil {
                let error = closed.reason.map {
                    RPCError(code: FastGRPCHeaders.code(resetBy: $0), message: "The stream was reset (\($0)).")
                } ?? RPCError(code: .internalError, message: "The stream closed without a status.")
                fail(closed.streamID, error, reset: nil, streamClosed: true)
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        sweep?.cancel()
        failAll(RPCError(code: .unavailable, message: "The connection closed."))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let streamError = error as? NIOHTTP2Errors.StreamError {
            fail(streamError.streamID, RPCError(code: .internalError, message: "HTTP/2 stream error: \(streamError.baseError)"), reset: nil)
            return
        }
        // A connection error (NIOHTTP2 has sent GOAWAY) or a socket error: nothing more can run here.
        failAll(RPCError(code: .unavailable, message: "The connection failed: \(error)"))
        context.close(promise: nil)
    }

    private func receivedHeaders(_ payload: HTTP2Frame.FramePayload.Headers, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard var call = calls[id] else { return }
        if !call.sawHeaders {
            call.sawHeaders = true
            if let bad = FastGRPCHeaders.responseStatus(payload.headers) {
                return fail(id, RPCError(status: bad) ?? RPCError(code: .internalError, message: bad.message), reset: payload.endStream ? nil : .cancel)
            }
            if !payload.endStream {
                calls[id] = call
                return
            }
        }
        // Trailers (or a trailers-only answer): the call's status ends it.
        guard payload.endStream else { return }
        let status = FastGRPCHeaders.trailerStatus(payload.headers)
        if let error = RPCError(status: status) { return fail(id, error, reset: nil) }
        calls[id] = nil
        if unsent.contains(id) {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.cancel))), promise: nil)
            flushes.written()
        }
        if call.pending != nil {
            call.completion.resume(throwing: RPCError(code: .internalError, message: "The stream ended inside a message."))
        } else if let message = call.message {
            call.completion.resume(returning: message)
        } else {
            call.completion.resume(throwing: RPCError(code: .internalError, message: "The unary call ended OK without a response message."))
        }
        closeIfIdle()
    }

    private func receivedData(_ payload: HTTP2Frame.FramePayload.Data, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard case .byteBuffer(var bytes) = payload.data else { return }
        let flowControlled = bytes.readableBytes + (payload.paddingBytes.map { $0 + 1 } ?? 0)
        // The connection window is given back on receipt: each call's own limit bounds what it buffers.
        connectionUnacked += flowControlled
        if connectionUnacked >= window / 2 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: connectionUnacked))),
                          promise: nil)
            connectionUnacked = 0
            flushes.written()
        }
        guard var call = calls[id] else { return }
        if var pending = call.pending {
            // Drop the other references first, so the append grows the buffer instead of copying it per frame.
            call.pending = nil
            calls[id]?.pending = nil
            pending.writeBuffer(&bytes)
            bytes = pending
        }
        // gRPC's length-prefixed message: a flag byte, a 4-byte big-endian length, the message.
        while bytes.readableBytes >= 5 {
            let flag = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self)!
            let length = Int(bytes.getInteger(at: bytes.readerIndex + 1, as: UInt32.self)!)
            if flag != 0 {
                return fail(id, RPCError(code: .internalError, message: "A compressed message arrived but no grpc-encoding was agreed."),
                            reset: .cancel)
            }
            if length > call.maxResponseBytes {
                return fail(id, RPCError(code: .resourceExhausted,
                                         message: "Message has exceeded the configured maximum payload size (max: \(call.maxResponseBytes), actual: \(length))"),
                            reset: .cancel)
            }
            if call.message != nil {
                return fail(id, RPCError(code: .internalError, message: "The unary call's response had more than one message."), reset: .cancel)
            }
            guard bytes.readableBytes >= 5 + length else { break }
            bytes.moveReaderIndex(forwardBy: 5)
            call.message = bytes.readSlice(length: length)!
        }
        call.pending = bytes.readableBytes > 0 ? bytes : nil
        call.unacked += flowControlled
        if !payload.endStream && call.unacked >= window / 2 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: call.unacked))), promise: nil)
            call.unacked = 0
            flushes.written()
        }
        calls[id] = call
        if payload.endStream {
            // DATA that ends the stream: no trailers, so no status.
            fail(id, RPCError(code: .internalError, message: "The response ended without trailers."), reset: nil)
        }
    }

    // MARK: Ending calls

    /// Fails call `id` (if still waiting), resetting its stream with `reset` (or, when the request is
    /// still being written, CANCEL) unless it is already closed.
    private func fail(_ id: HTTP2StreamID, _ error: RPCError, reset: HTTP2ErrorCode?, streamClosed: Bool = false) {
        guard let call = calls.removeValue(forKey: id) else { return }
        let reset = streamClosed ? nil : reset ?? (unsent.contains(id) ? .cancel : nil)
        if let reset, let context {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(reset))), promise: nil)
            flushes.written()
            if flushes.flushDueNow() { context.flush() }
        }
        call.completion.resume(throwing: error)
        closeIfIdle()
    }

    /// Calls past their deadline fail as DEADLINE_EXCEEDED; their streams are reset (CANCEL).
    private func failExpired() {
        guard let timeout else { return }
        let now = NIODeadline.now()
        for (id, call) in calls where call.deadline.map({ $0 <= now }) ?? false {
            fail(id, RPCError(code: .deadlineExceeded, message: "No answer within \(Double(timeout.nanoseconds) / 1e9) s."), reset: .cancel)
        }
    }

    private func failAll(_ error: RPCError) {
        if failure == nil { failure = error }
        let open = calls
        calls.removeAll()
        for (_, call) in open { call.completion.resume(throwing: error) }
        let queued = beforeActive
        beforeActive = []
        for (_, _, _, completion) in queued { completion.resume(throwing: error) }
    }

    private func closeIfIdle() {
        if closeWhenIdle && calls.isEmpty && beforeActive.isEmpty, let context { context.close(promise: nil) }
    }
}
