import CThreadPlacement
import Foundation

/// The intra-op thread pool: `threads - 1` worker threads of its own beside the calling thread,
/// which takes part in every loop. Between loops a worker yields its core a few hundred times
/// (`sched_yield`: anyone else runnable gets it) and then sleeps on a condition variable.
///
/// Some schedulers (this project's VMs pack tasks onto few CPUs) wake a worker on the calling
/// thread's CPU and leave it there for tens of milliseconds: the loop then runs on one core while
/// the other idles (the MLP at batch 32, 2 threads: 0.095 instead of 0.060 ms per run, like
/// `taskset -c 0`). Loops in which no worker took a piece are counted; after a few in a row the
/// workers are moved off the caller's CPU (their affinity minus that CPU, put back as soon as a
/// worker takes a piece, so nothing stays pinned). `BERTH_POOL_PLACEMENT=0` turns this off.
///
/// Dispatch's `concurrentPerform`, used before, ran the second half on a worker that on Linux
/// started too late to take it: `berth perf --threads 2` on ResNet-50 showed 0.99 CPUs utilized.
public final class ThreadPool: Sendable {
    /// The number of threads a single kernel may use.
    public let threads: Int
    private let workers: PoolWorkers?

    public init(threads: Int) {
        self.threads = max(1, threads)
        workers = self.threads > 1 ? PoolWorkers(count: self.threads - 1) : nil
    }

    deinit { workers?.stop() }

    private static let sharedLock = NSLock()
    nonisolated(unsafe) private static var sharedPools: [Int: ThreadPool] = [:]

    /// The process's pool for `threads` threads, made on first use and kept. Sessions and the
    /// product splitter (``BLAS``) share it: with a pool each, a 2-thread session had two workers
    /// spinning beside the caller on two cores, and a product split inside a pool loop took a third
    /// thread; sharing, such a nested loop runs on its caller, and two sessions' loops at the same
    /// moment take turns with the workers rather than oversubscribing the cores.
    public static func shared(threads: Int) -> ThreadPool {
        let n = max(1, threads)
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let pool = sharedPools[n] { return pool }
        let pool = ThreadPool(threads: n)
        sharedPools[n] = pool
        return pool
    }

    /// Runs `body` over `0..<count` split into contiguous ranges. Work below `minChunk`
    /// items per thread runs inline, since waking threads costs more than it saves.
    public func parallelFor(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(1, minChunk)))
        if chunks <= 1 { body(0..<count); return }
        forEachIndex(chunks) { c in
            let lo = count * c / chunks
            let hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count` on at most `threads` threads, each thread
    /// taking the next index when it finishes one. Unlike fixed halves, a thread that starts
    /// late or is descheduled (shared cores) leaves its indices to the others instead of making
    /// them wait: split work into a few more pieces than threads. A loop started while the pool
    /// is busy (another request, or a nested loop) runs on the calling thread alone.
    public func forEachIndex(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        guard count > 1, let workers else { for i in 0..<count { body(i) }; return }
        withoutActuallyEscaping(body) { body in
            // run returns only after every index ran, so the body never outlives this call.
            nonisolated(unsafe) let body = body
            if !workers.run(count, body) { for i in 0..<count { body(i) } }
        }
    }
}

/// The worker threads of one ``ThreadPool`` and the loop they share.
private final class PoolWorkers: @unchecked Sendable {
    private let cond = NSCondition()
    private var body: ((Int) -> Void)?
    private var count = 0
    private var next = 0
    /// Indices claimed and not finished.
    private var running = 0
    private var stopping = false
    /// Pieces the workers took in the current loop.
    private var workerPieces = 0
    /// Loops in a row in which the workers took no piece, and how many trigger a move (doubling
    /// while moves don't help, so a machine that is simply busy costs a few syscalls at most).
    private var missedLoops = 0
    private var moveAfter = PoolWorkers.firstMoveAfter
    private static let firstMoveAfter = 3
    /// Each worker's thread and starting affinity, once it runs; `avoiding` while moved off a CPU.
    private var placements: [(thread: pthread_t, mask: berth_cpu_mask, avoiding: Bool)?]
    static let placementEnabled = ProcessInfo.processInfo.environment["BERTH_POOL_PLACEMENT"] != "0"
    /// How many times a thread yields before it sleeps (`BERTH_POOL_YIELDS`, 0: sleep at once).
    static let yields = Int(ProcessInfo.processInfo.environment["BERTH_POOL_YIELDS"] ?? "") ?? 200

    init(count: Int) {
        placements = Array(repeating: nil, count: count)
        for k in 0..<count {
            // Foundation's Thread.name does not reach the OS thread on Linux; named from inside.
            let t = Thread { [self] in
                berth_name_current_thread("berth-pool-\(k + 1)")
                work(k)
            }
            t.start()
        }
    }

    func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        cond.unlock()
    }

    /// Runs the loop with the calling thread taking part; false when a loop is already running.
    func run(_ n: Int, _ f: @escaping (Int) -> Void) -> Bool {
        cond.lock()
        guard body == nil else {
            cond.unlock()
            return false
        }
        body = f
        count = n
        next = 0
        running = 0
        workerPieces = 0
        cond.broadcast()
        while next < count {
            let i = next
            next += 1
            running += 1
            cond.unlock()
            f(i)
            cond.lock()
            running -= 1
        }
        var tries = 0
        // The other pieces usually end within microseconds: yield a few times before sleeping.
        while running > 0 { pause(&tries) }
        body = nil
        if workerPieces > 0 {
            missedLoops = 0
            moveAfter = Self.firstMoveAfter
        } else if n > 1 && Self.placementEnabled {
            missedLoops += 1
            if missedLoops >= moveAfter {
                missedLoops = 0
                moveAfter = min(2 * moveAfter, 4096)
                moveWorkers(offCPU: berth_current_cpu())
            }
        }
        cond.unlock()
        return true
    }

    /// Moves every worker off `cpu` (the caller's): allowed anywhere else it had been allowed.
    private func moveWorkers(offCPU cpu: Int32) {
        guard cpu >= 0 else { return }
        for k in placements.indices {
            guard var p = placements[k] else { continue }
            if berth_thread_avoid_cpu(p.thread, &p.mask, cpu) == 0 {
                p.avoiding = true
                placements[k] = p
            }
        }
    }

    /// One wait with the lock held: the first `yields` times the core is handed to anyone else
    /// runnable (`sched_yield`, lock released around it), then a sleep until the next broadcast.
    private func pause(_ tries: inout Int) {
        if tries < Self.yields {
            tries += 1
            cond.unlock()
            sched_yield()
            cond.lock()
        } else {
            cond.wait()
        }
    }

    private func work(_ k: Int) {
        var mask = berth_cpu_mask()
        let me = pthread_self()
        let known = berth_thread_mask(me, &mask) == 0
        cond.lock()
        if known { placements[k] = (me, mask, false) }
        var tries = 0
        while true {
            while !stopping && (body == nil || next >= count) {
                // Kernels run loops back to back (a convolution per layer): a worker that yields
                // for a while before sleeping is there for the next one without a futex wake-up.
                pause(&tries)
            }
            tries = 0
            if stopping { break }
            let f = body!
            let i = next
            next += 1
            running += 1
            workerPieces += 1
            // Moved off the caller's CPU and running elsewhere now: allowed everywhere again.
            let restore = placements[k].flatMap { $0.avoiding ? $0.mask : nil }
            if restore != nil { placements[k]?.avoiding = false }
            cond.unlock()
            if var mask = restore { _ = berth_thread_restore_mask(me, &mask) }
            f(i)
            cond.lock()
            running -= 1
            if running == 0 && next >= count { cond.broadcast() }
        }
        cond.unlock()
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
