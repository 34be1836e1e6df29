import Dispatch
import Foundation

/// The intra-op thread pool: splits a loop into at most `threads` contiguous chunks.
/// Chunks run on Dispatch's worker threads; `threads` caps how many run at once for one op.
public final class ThreadPool: Sendable {
    /// The number of threads a single kernel may use.
    public let threads: Int

    public init(threads: Int) {
        self.threads = max(1, threads)
    }

    /// Runs `body` over `0..<count` split into contiguous ranges. Work below `minChunk`
    /// items per thread runs inline, since waking threads costs more than it saves.
    public func parallelFor(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(1, minChunk)))
        if chunks <= 1 { body(0..<count); return }
        withoutActuallyEscaping(body) { body in
            // concurrentPerform returns only after every chunk ran, so the body never outlives this call.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = count * c / chunks
                let hi = count * (c + 1) / chunks
                if lo < hi { body(lo..<hi) }
            }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count` on at most `threads` threads, each thread
    /// taking the next index when it finishes one. Unlike ``parallelFor(_:minChunk:_:)``'s fixed
    /// halves, a thread that starts late or is descheduled (shared cores) leaves its indices to
    /// the others instead of making them wait: split work into a few more pieces than threads.
    public func forEachIndex(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        let width = min(threads, count)
        if width <= 1 { for i in 0..<count { body(i) }; return }
        let next = IndexCounter()
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: width) { _ in
                while true {
                    let i = next.take()
                    if i >= count { return }
                    body(i)
                }
            }
        }
    }
}

/// The next unclaimed index of a ``ThreadPool/forEachIndex(_:_:)`` loop.
private final class IndexCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value - 1
    }
}

/// Set by any piece of a ``ThreadPool/forEachIndex(_:_:)`` loop that failed.
final class FailureFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
