import NIOCore

/// Flush coalescing shared by the client and server connection handlers: what is written while
/// the channel reads waits for `channelReadComplete` (one flush for the whole read, so a unary
/// answer's headers, message and trailers leave together); what is written outside a read
/// is flushed at once.
struct FastGRPCFlushes {
    /// Between a read and its `channelReadComplete`.
    private var reading = false
    /// Something was written since the last flush.
    private var pending = false

    /// A read began: flushes wait for ``endRead(_:)``.
    mutating func beginRead() { reading = true }

    /// Something was written and needs a flush.
    mutating func written() { pending = true }

    /// The read completed: flushes what it wrote.
    mutating func endRead(_ context: ChannelHandlerContext) {
        reading = false
        flushIfPending(context)
    }

    /// Outside a read the flush is due now; inside one, ``endRead(_:)`` does it once.
    mutating func flushNowIfOutsideRead(_ context: ChannelHandlerContext) {
        guard !reading else { return }
        flushIfPending(context)
    }

    private mutating func flushIfPending(_ context: ChannelHandlerContext) {
        guard pending else { return }
        pending = false
        context.flush()
    }
}
