import Foundation
import Synchronization

/// Worker threads that spin briefly between jobs before sleeping, for the many small parallel
/// loops of a decode step (a matrix product or an attention pass every few microseconds).
/// `DispatchQueue.concurrentPerform` wakes a pool thread per call: measured here, decode at two
/// threads ran at half the speed of one thread from those wake-ups alone. llama.cpp's threads spin
/// the same way; these fall asleep after ~50 µs without work, so an idle server does not burn a core.
final class SpinningWorkers: @unchecked Sendable {
    // @unchecked: the job fields are published by `generation` (release/acquire) and read only while
    // the job runs; the sleeping state is guarded by `state.condition`.
    /// Threads a job is split over, the caller's included.
    let count: Int
    private let state: State

    private final class State: @unchecked Sendable {
        let generation = Atomic<UInt64>(0)
        let remaining = Atomic<Int>(0)
        let condition = NSCondition()
        var sleepers = 0
        var stop = false
        var job: ((Int) -> Void)?
        var chunks = 0
        let count: Int

        init(count: Int) { self.count = count }

        /// Worker `index` (1…count-1): runs chunks index, index + count, … of each job.
        func work(index: Int) {
            var seen: UInt64 = 0
            while true {
                var spins = 0
                var g = generation.load(ordering: .acquiring)
                while g == seen {
                    spins += 1
                    if spins > 20_000 {
                        condition.lock()
                        sleepers += 1
                        while generation.load(ordering: .acquiring) == seen && !stop { condition.wait() }
                        sleepers -= 1
                        let stopping = stop
                        condition.unlock()
                        if stopping { return }
                        spins = 0
                    }
                    g = generation.load(ordering: .acquiring)
                }
                seen = g
                if let job {
                    var c = index
                    while c < chunks { job(c); c += count }
                }
                remaining.subtract(1, ordering: .releasing)
            }
        }
    }

    init(count: Int) {
        self.count = max(1, count)
        state = State(count: self.count)
        for i in 1..<self.count {
            let s = state
            let t = Thread { s.work(index: i) }
            t.name = "berth-llm-\(i)"
            t.start()
        }
    }

    deinit {
        state.condition.lock()
        state.stop = true
        state.job = nil
        state.generation.add(1, ordering: .releasing)
        state.condition.broadcast()
        state.condition.unlock()
    }

    /// Whether a job holds the workers; a second caller at the same time runs its job inline.
    private let busy = Atomic<Bool>(false)

    /// Runs `body(0..<chunks)` over the threads and returns when every chunk has run. One job at a
    /// time holds the workers (the generation engine runs one forward pass at a time); a concurrent
    /// call runs its chunks on its own thread instead of waiting.
    func run(chunks: Int, _ body: (Int) -> Void) {
        guard count > 1, chunks > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for c in 0..<chunks { body(c) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            let s = state
            s.job = body
            s.chunks = chunks
            s.remaining.store(count - 1, ordering: .relaxed)
            s.generation.add(1, ordering: .releasing)
            s.condition.lock()
            if s.sleepers > 0 { s.condition.broadcast() }
            s.condition.unlock()
            var c = 0
            while c < chunks { body(c); c += count }
            // Spin while the workers finish; yield the core when one of them is descheduled (an
            // oversubscribed machine), instead of spinning through its whole time slice.
            var spins = 0
            while s.remaining.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins > 10_000 { sched_yield() }
            }
            s.job = nil
        }
    }
}
