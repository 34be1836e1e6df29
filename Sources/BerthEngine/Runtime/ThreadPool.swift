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
}
