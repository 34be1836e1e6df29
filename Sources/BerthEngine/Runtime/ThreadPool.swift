import CThreadPlacement
import Foundation

/// The intra-op thread pool: `threads - 1` worker threads of its own beside the calling thread,
/// which takes part in every loop. Between loops a worker waits awake for a while (the CPU's
/// spin hint for `BERTH_POOL_SPIN_US`, then `sched_yield` `BERTH_POOL_YIELDS` times: anyone else
/// runnable gets the core) and then sleeps on a condition variable.
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

    /// How long a spinning worker takes to see a loop the caller publishes (the least of every
    /// eight loops, averaged; ns; 0 before any): about one cache-line transfer between the two cores. On this
    /// project's VMs it is 60–100 ns when the vCPUs share a last-level cache and 280–300 ns when
    /// the host places them on different dies, where every tensor a piece reads from the other
    /// core costs several times more (``SplitConvolution`` then keeps small convolutions whole, and
    /// ``BlockedConvLayout`` splits batch-1 convolutions on small planes by output channels).
    public var handOffNanos: Int { workers?.handOffNanos ?? 0 }

    /// True while the hand-off is slower than `BERTH_POOL_FAR_NS` (default 200 ns) and was measured
    /// in the last ``staleNanos``: the cores are far apart. An older measure says nothing: callers
    /// that believe the cores far apart stop splitting, the workers fall asleep and no new measure
    /// comes (a model of two small convolutions stayed whole for good after a slow start, 27 µs
    /// instead of 22 on near cores); split again, the measures come back within a few calls.
    public var coresFarApart: Bool {
        guard let workers else { return false }
        if let forced = Self.forcedFar { return forced }
        return Self.farApart(handOffNanos: workers.handOffNanos, age: workers.nanosSinceHandOff)
    }
    /// `BERTH_POOL_FAR=1` / `0`: the cores count as far apart / close whatever the measure (tests, A/B).
    static let forcedFar: Bool? = ProcessInfo.processInfo.environment["BERTH_POOL_FAR"].flatMap { $0 == "1" ? true : $0 == "0" ? false : nil }

    /// The rule of ``coresFarApart`` for a measure `age` ns old.
    static func farApart(handOffNanos: Int, age: UInt64) -> Bool { handOffNanos > farNanos && age < staleNanos }
    static let farNanos = Int(ProcessInfo.processInfo.environment["BERTH_POOL_FAR_NS"] ?? "") ?? 200
    /// How long a hand-off measure counts (50 ms: the placement holds for seconds to minutes).
    static let staleNanos: UInt64 = 50_000_000

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
///
/// A loop is handed off without a lock: one atomic word holds the loop's number (high 32 bits)
/// and the next unclaimed index (low 32 bits); a thread claims an index by compare-and-swap and
/// reads the loop's body only after its claim succeeded (the caller replaces the body only once
/// every claimed piece finished). Between loops the word is closed (next index all ones) so a
/// late worker's stale claim fails. Idle workers wait on the word with the CPU's spin hint, then
/// yield, then sleep on a condition variable. The earlier design (a mutex and condition variable
/// taken on every claim, workers spinning on `sched_yield`): MNIST CNN at batch 1 on 2 threads
/// 36 → 35 µs p50 with the VM's vCPUs on one die, 57.5 → 55 on two (bench/RESULTS.md, session 15).
private final class PoolWorkers: @unchecked Sendable {
    private let cond = NSCondition()
    /// Atomic words, a cache line each: see the `Word` offsets.
    private let words: UnsafeMutablePointer<UInt64>
    private enum Word {
        /// Loop number << 32 | next index.
        static let state = 0
        /// Pieces of the current loop not finished.
        static let pending = 8
        /// Workers asleep on `cond`.
        static let sleepers = 16
        /// 1 while the caller sleeps on `cond` for the last pieces.
        static let callerWaiting = 24
        /// Pieces the workers took in the current loop.
        static let workerPieces = 32
        /// 1 once the pool stops.
        static let stopping = 40
        /// 1 while a loop runs (a second caller then runs its loop alone).
        static let busy = 48
        /// When the caller published the current loop (ns, ``berth_now_ns``): in the state's
        /// line, so a worker that sees the new state has it without another transfer.
        static let published = 1
        /// The hand-off measure (ns): see ``recordHandOff``.
        static let handOff = 56
        /// When the last window was folded into it (ns, ``berth_now_ns``).
        static let handOffAt = 57
        /// The least delay of the current window, and how many delays it has seen.
        static let windowLeast = 58
        static let windowCount = 59
        /// Per worker: 1 while moved off the caller's CPU.
        static let avoiding = 64
    }
    private static let indexMask: UInt64 = 0xFFFF_FFFF
    private static let closed: UInt64 = 0xFFFF_FFFF
    /// Written by the caller while the state word is closed; read by a thread that claimed a piece.
    private var body: ((Int) -> Void)?
    private var count = 0
    /// Loops in a row in which the workers took no piece, and how many trigger a move (doubling
    /// while moves don't help, so a machine that is simply busy costs a few syscalls at most).
    /// The caller's alone (under the busy flag).
    private var missedLoops = 0
    private var moveAfter = PoolWorkers.firstMoveAfter
    private static let firstMoveAfter = 3
    /// Each worker's thread and starting affinity, once it runs (under `cond`'s lock).
    private var placements: [(thread: pthread_t, mask: berth_cpu_mask)?]
    static let placementEnabled = ProcessInfo.processInfo.environment["BERTH_POOL_PLACEMENT"] != "0"
    /// How many times a thread yields after spinning and before it sleeps (`BERTH_POOL_YIELDS`).
    static let yields = Int32(ProcessInfo.processInfo.environment["BERTH_POOL_YIELDS"] ?? "") ?? 200
    /// How long a thread spins on the CPU's hint before yielding (`BERTH_POOL_SPIN_US`, µs).
    static let spinNanos = UInt64(max(0, Int(ProcessInfo.processInfo.environment["BERTH_POOL_SPIN_US"] ?? "") ?? 30)) * 1000

    init(count: Int) {
        placements = Array(repeating: nil, count: count)
        words = UnsafeMutablePointer<UInt64>.allocate(capacity: Word.avoiding + 8 * count)
        words.initialize(repeating: 0, count: Word.avoiding + 8 * count)
        words[Word.state] = Self.closed
        for k in 0..<count {
            // Foundation's Thread.name does not reach the OS thread on Linux; named from inside.
            let t = Thread { [self] in
                berth_name_current_thread("berth-pool-\(k + 1)")
                work(k)
            }
            t.start()
        }
    }

    private func word(_ offset: Int) -> UnsafeMutablePointer<UInt64> { words + offset }

    func stop() {
        cond.lock()
        berth_atomic_store(word(Word.stopping), 1)
        // A new loop number wakes the spinners; the broadcast, the sleepers.
        let loop = (berth_atomic_load(word(Word.state)) >> 32) &+ 1
        berth_atomic_store(word(Word.state), (loop << 32) | Self.closed)
        cond.broadcast()
        cond.unlock()
    }

    /// Runs the loop with the calling thread taking part; false when a loop is already running.
    func run(_ n: Int, _ f: @escaping (Int) -> Void) -> Bool {
        guard n < Int(Self.closed), berth_atomic_cas(word(Word.busy), 0, 1) != 0 else { return false }
        body = f
        count = n
        berth_atomic_store(word(Word.pending), UInt64(n))
        berth_atomic_store(word(Word.workerPieces), 0)
        let loop = ((berth_atomic_load(word(Word.state)) >> 32) &+ 1) & Self.indexMask
        berth_atomic_store(word(Word.published), berth_now_ns())
        berth_atomic_store(word(Word.state), loop << 32)
        if berth_atomic_load(word(Word.sleepers)) > 0 {
            cond.lock()
            cond.broadcast()
            cond.unlock()
        }
        takePieces(worker: nil)
        // The other pieces usually end within microseconds: spin, yield, then sleep.
        waitForPieces()
        berth_atomic_store(word(Word.state), (loop << 32) | Self.closed)
        body = nil
        if berth_atomic_load(word(Word.workerPieces)) > 0 {
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
        berth_atomic_store(word(Word.busy), 0)
        return true
    }

    /// Claims and runs pieces of the current loop until none is left (`worker`: the worker's
    /// number, nil for the caller).
    private func takePieces(worker k: Int?) {
        let state = word(Word.state)
        while true {
            let s = berth_atomic_load(state)
            let i = s & Self.indexMask
            // `count` is this loop's: it is written only while the word is closed, and a word read
            // before that would fail the swap below.
            guard i < UInt64(count) else { return }
            guard berth_atomic_cas(state, s, s + 1) != 0 else { continue }
            if let k {
                berth_atomic_add(word(Word.workerPieces), 1)
                if berth_atomic_load(word(Word.avoiding + 8 * k)) != 0 { restorePlacement(k) }
            }
            runPiece(Int(i))
            if berth_atomic_sub(word(Word.pending), 1) == 0, berth_atomic_load(word(Word.callerWaiting)) != 0 {
                cond.lock()
                cond.broadcast()
                cond.unlock()
            }
        }
    }

    /// Folds the delay from this loop's publish to a spinning worker seeing it into the measure:
    /// the least of each ``handOffWindow`` delays, averaged over windows (1/4 weight). A single
    /// delay says little: an interrupt or a preempted worker makes one of a few hundred loops take
    /// up to microseconds (3 of the first 2000 near 1.95 µs, the rest 50–100 ns), which in a plain
    /// average made close cores look far for good; the least of eight is the cache-line transfer.
    /// Over 2 µs is not counted at all. Called by workers only (with several, a lost update is harmless).
    private func recordHandOff() {
        let now = berth_now_ns(), published = berth_atomic_load(word(Word.published))
        guard now >= published, now - published < 2_000 else { return }
        let delay = now - published
        let seen = berth_atomic_load(word(Word.windowCount))
        let least = seen == 0 ? delay : min(delay, berth_atomic_load(word(Word.windowLeast)))
        guard seen + 1 >= Self.handOffWindow else {
            berth_atomic_store(word(Word.windowLeast), least)
            berth_atomic_store(word(Word.windowCount), seen + 1)
            return
        }
        berth_atomic_store(word(Word.windowCount), 0)
        let old = berth_atomic_load(word(Word.handOff))
        berth_atomic_store(word(Word.handOff), old == 0 ? least : (old * 3 + least) / 4)
        berth_atomic_store(word(Word.handOffAt), now)
    }
    private static let handOffWindow: UInt64 = 8

    var handOffNanos: Int { Int(berth_atomic_load(word(Word.handOff))) }

    /// Time since the last hand-off measure (ns; all ones before any).
    var nanosSinceHandOff: UInt64 {
        let at = berth_atomic_load(word(Word.handOffAt)), now = berth_now_ns()
        return at == 0 || now < at ? .max : now - at
    }

    /// Calls the body (out of line, so the thread's reference to it is gone when this returns and
    /// before the piece counts as finished).
    @inline(never) private func runPiece(_ i: Int) { body?(i) }

    /// Waits until every piece of the loop finished: spins, yields, then sleeps.
    private func waitForPieces() {
        let pending = word(Word.pending)
        while berth_atomic_load(pending) != 0 {
            // Waits while the count stays what it is; a drop to zero (or any drop) ends the wait.
            let seen = berth_atomic_load(pending)
            if seen == 0 { break }
            if berth_wait_while_equal(pending, ~0, seen, Self.spinNanos, Self.yields) != 0 { continue }
            cond.lock()
            berth_atomic_store(word(Word.callerWaiting), 1)
            while berth_atomic_load(pending) != 0 { cond.wait() }
            berth_atomic_store(word(Word.callerWaiting), 0)
            cond.unlock()
        }
    }

    /// Moves every worker off `cpu` (the caller's): allowed anywhere else it had been allowed.
    private func moveWorkers(offCPU cpu: Int32) {
        guard cpu >= 0 else { return }
        cond.lock()
        defer { cond.unlock() }
        for k in placements.indices {
            guard var p = placements[k] else { continue }
            if berth_thread_avoid_cpu(p.thread, &p.mask, cpu) == 0 { berth_atomic_store(word(Word.avoiding + 8 * k), 1) }
        }
    }

    /// Worker `k`, moved off the caller's CPU and running elsewhere now: allowed everywhere again.
    private func restorePlacement(_ k: Int) {
        cond.lock()
        let p = placements[k]
        berth_atomic_store(word(Word.avoiding + 8 * k), 0)
        cond.unlock()
        if var mask = p?.mask, let thread = p?.thread { _ = berth_thread_restore_mask(thread, &mask) }
    }

    private func work(_ k: Int) {
        var mask = berth_cpu_mask()
        let me = pthread_self()
        if berth_thread_mask(me, &mask) == 0 {
            cond.lock()
            placements[k] = (me, mask)
            cond.unlock()
        }
        let state = word(Word.state)
        let loopMask = ~Self.indexMask
        var seen = berth_atomic_load(state) & loopMask
        while berth_atomic_load(word(Word.stopping)) == 0 {
            // Kernels run loops back to back (a convolution per layer): a worker that waits awake
            // for a while is there for the next one without a futex wake-up.
            let waited = berth_wait_while_equal(state, loopMask, seen, Self.spinNanos, Self.yields)
            if waited == 1 { recordHandOff() }
            if waited == 0 {
                cond.lock()
                berth_atomic_add(word(Word.sleepers), 1)
                while berth_atomic_load(state) & loopMask == seen { cond.wait() }
                berth_atomic_sub(word(Word.sleepers), 1)
                cond.unlock()
            }
            seen = berth_atomic_load(state) & loopMask
            if berth_atomic_load(word(Word.stopping)) != 0 { break }
            takePieces(worker: k)
        }
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

/// A counter several threads may bump (one atomic word).
final class AtomicCounter: @unchecked Sendable {
    private let word = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    init() { word.initialize(to: 0) }
    deinit { word.deallocate() }
    /// The count after this call's increment.
    func next() -> UInt64 { berth_atomic_add(word, 1) }
}
