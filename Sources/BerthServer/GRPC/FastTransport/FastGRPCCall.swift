import GRPCCore
import NIOCore

/// One RPC between the connection's event loop and the task running its handler: the request
/// parts the loop has received (read by ``Inbound``) and the response parts the handler writes
/// (sent by the loop, several per hop: a unary answer's headers, message and trailers usually
/// leave in one flush).
final class FastGRPCCall: @unchecked Sendable {
    typealias Part = RPCRequestPart<FastGRPCBytes>

    private struct State {
        var parts = CircularBuffer<Part>(initialCapacity: 2)
        /// Message bytes received but not yet read by the handler (they bound the stream's window).
        var bufferedBytes = 0
        /// Stream window the loop held back while too much was buffered; granted once read.
        var windowDebt = 0
        var end: (any Error)?? = nil
        var waiter: CheckedContinuation<Part?, any Error>?
        var outbound: [RPCResponsePart<FastGRPCBytes>] = []
        var sendScheduled = false
        var cancellation: ServerContext.RPCCancellationHandle?
        var cancelled = false
    }

    let streamID: Int
    let descriptor: MethodDescriptor
    /// Where the handler task runs when the transport keeps calls on their loop (nil: the global executor).
    let executor: FastGRPCLoopExecutor?
    private let state = Locked(State())
    /// Sends this call's response parts (and a released window) on the connection; run on its event loop.
    private let loop: any EventLoop
    private let flushOutbound: @Sendable (FastGRPCCall) -> Void
    private let grantWindow: @Sendable (Int, Int) -> Void
    /// The stream window size: more unread bytes than this and the loop stops granting window.
    let window: Int

    init(streamID: Int, descriptor: MethodDescriptor, metadata: Metadata, loop: any EventLoop, executor: FastGRPCLoopExecutor?, window: Int,
         flushOutbound: @escaping @Sendable (FastGRPCCall) -> Void, grantWindow: @escaping @Sendable (Int, Int) -> Void) {
        self.streamID = streamID
        self.descriptor = descriptor
        self.loop = loop
        self.executor = executor
        self.window = window
        self.flushOutbound = flushOutbound
        self.grantWindow = grantWindow
        state.withLock { $0.parts.append(.metadata(metadata)) }
    }

    // MARK: Loop side

    /// The messages one DATA frame completed (maybe none), from the loop. Returns the stream window
    /// to grant now for the frame's `flowControlled` bytes (0: held until the handler reads).
    func received(_ messages: [ByteBuffer], flowControlled: Int) -> Int {
        var waiter: CheckedContinuation<Part?, any Error>?
        var first: ByteBuffer?
        let grant = state.withLock { s -> Int in
            var rest = messages[...]
            if let w = s.waiter, let m = rest.first {
                s.waiter = nil
                waiter = w
                first = m
                rest = rest.dropFirst()
            }
            for m in rest {
                s.bufferedBytes += m.readableBytes
                s.parts.append(.message(FastGRPCBytes(m)))
            }
            if s.bufferedBytes <= window { return flowControlled }
            s.windowDebt += flowControlled
            return 0
        }
        if let waiter, let first { waiter.resume(returning: .message(FastGRPCBytes(first))) }
        return grant
    }

    /// The client half-closed (nil) or the stream failed: the handler's reads end after what is buffered.
    func finishInbound(_ error: (any Error)?) {
        let waiter = state.withLock { s -> CheckedContinuation<Part?, any Error>? in
            guard s.end == nil else { return nil }
            s.end = .some(error)
            defer { s.waiter = nil }
            return s.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
    }

    /// The client reset the stream or the connection went away: the RPC is cancelled.
    func cancel(_ error: any Error) {
        finishInbound(error)
        let handle = state.withLock { s -> ServerContext.RPCCancellationHandle? in
            s.cancelled = true
            return s.cancellation
        }
        handle?.cancel()
    }

    /// The response parts written since the last call (run on the loop).
    func takeOutbound() -> [RPCResponsePart<FastGRPCBytes>] {
        state.withLock { s in
            s.sendScheduled = false
            defer { s.outbound.removeAll(keepingCapacity: true) }
            return s.outbound
        }
    }

    // MARK: Handler side

    /// Set by the task that runs the handler (the handle is task-local to it).
    func attach(_ handle: ServerContext.RPCCancellationHandle) {
        let cancelled = state.withLock { s -> Bool in
            s.cancellation = handle
            return s.cancelled
        }
        if cancelled { handle.cancel() }
    }

    fileprivate func next() async throws -> Part? {
        let ready = try state.withLock { s -> Part?? in
            if let part = s.parts.popFirst() {
                if case .message(let m) = part { release(m.count, &s) }
                return .some(part)
            }
            if let end = s.end {
                if let error = end { throw error }
                return .some(nil)
            }
            return nil
        }
        if let ready { return ready }
        return try await withCheckedThrowingContinuation { c in
            let now = state.withLock { s -> Result<Part?, any Error>? in
                if let part = s.parts.popFirst() {
                    if case .message(let m) = part { release(m.count, &s) }
                    return .success(part)
                }
                if let end = s.end { return end.map { .failure($0) } ?? .success(nil) }
                s.waiter = c
                return nil
            }
            if let now { c.resume(with: now) }
        }
    }

    /// A read message's bytes leave the buffer; window held back for them is granted (via the loop).
    private func release(_ count: Int, _ s: inout State) {
        s.bufferedBytes -= count
        if s.windowDebt > 0 && s.bufferedBytes <= window / 2 {
            let debt = s.windowDebt
            s.windowDebt = 0
            let id = streamID
            let grant = grantWindow
            loop.execute { grant(id, debt) }
        }
    }

    fileprivate func write(_ parts: some Sequence<RPCResponsePart<FastGRPCBytes>>) {
        let schedule = state.withLock { s -> Bool in
            s.outbound.append(contentsOf: parts)
            if s.sendScheduled { return false }
            s.sendScheduled = true
            return true
        }
        if schedule {
            let flush = flushOutbound
            loop.execute { flush(self) }
        }
    }

    /// The request parts as GRPCCore reads them.
    struct Inbound: AsyncSequence, Sendable {
        typealias Element = Part
        let call: FastGRPCCall
        struct AsyncIterator: AsyncIteratorProtocol {
            let call: FastGRPCCall
            mutating func next() async throws -> Part? { try await call.next() }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(call: call) }
    }

    /// The response parts as GRPCCore writes them. A write never waits: it queues the part and
    /// wakes the loop once for everything queued before it runs.
    struct Outbound: ClosableRPCWriterProtocol {
        typealias Element = RPCResponsePart<FastGRPCBytes>
        let call: FastGRPCCall
        func write(_ element: Element) async throws { call.write(CollectionOfOne(element)) }
        func write(contentsOf elements: some Sequence<Element>) async throws { call.write(elements) }
        func finish() async {}
        func finish(throwing error: any Error) async {
            // GRPCCore always writes a status before finishing; without one the stream is failed.
            call.write(CollectionOfOne(.status(Status(code: .unknown, message: "\(error)"), [:])))
        }
    }
}

/// Runs a call's handler task on its connection's event loop, so the request parts it reads are
/// already there and the response parts it writes leave in one flush after it yields the loop,
/// with no thread hand-off either way. (NIO's event loops are serial executors, not task executors.)
final class FastGRPCLoopExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
