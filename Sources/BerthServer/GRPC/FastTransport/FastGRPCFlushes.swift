/// Flush coalescing shared by the client and server connection handlers: what is written while
/// the channel reads waits for `channelReadComplete` (one flush for the whole read, so a unary
/// answer's headers, message and trailers leave together); what is written outside a read
/// is flushed at once.
///
/// The struct only decides; the handler calls `context.flush()` itself, after the mutating call
/// has returned: a flush can re-enter the handler (a failed write closes the channel, which reads
/// again), and a flush made inside a mutating method would then be a second, overlapping access
/// to the handler's `flushes` (Swift's exclusivity check stops the process).
struct FastGRPCFlushes {
    /// Between a read and its `channelReadComplete`.
    private var reading = false
    /// Something was written since the last flush.
    private var pending = false

    /// A read began: flushes wait for ``endRead()``.
    mutating func beginRead() { reading = true }

    /// Something was written and needs a flush.
    mutating func written() { pending = true }

    /// The read completed: true when what it wrote must be flushed now.
    mutating func endRead() -> Bool {
        reading = false
        return takePending()
    }

    /// True when a flush is due now: something was written outside a read (inside one,
    /// ``endRead()`` asks for it once).
    mutating func flushDueNow() -> Bool {
        reading ? false : takePending()
    }

    private mutating func takePending() -> Bool {
        defer { pending = false }
        return pending
    }
}
