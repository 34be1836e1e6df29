import Foundation

/// A wake-up for the registry poll: fired by a LISTEN notification (another replica committed a
/// change), waited for with the poll interval as the upper bound.
public final class ChangeSignal: Sendable {
    private let pending = Locked(false)
    /// Whether anything fires it (a LISTEN connection exists); otherwise a wait is one plain sleep.
    private let armed = Locked(false)
    /// How often a waiter looks at the flag: the latency a notification adds at most.
    static let slice: Duration = .milliseconds(25)

    public init() {}

    /// Marks a change; safe from any thread, including an event loop.
    public func fire() { pending.withLock { $0 = true } }

    /// Says that notifications will come, so waits watch for them.
    public func arm() { armed.withLock { $0 = true } }

    /// Returns once a change was signalled (consuming it) or after `limit`.
    public func wait(upTo limit: Duration) async {
        guard armed.withLock({ $0 }) else {
            try? await Task.sleep(for: limit)
            return
        }
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            if pending.withLock({ p in defer { p = false }; return p }) { return }
            try? await Task.sleep(for: min(Self.slice, deadline - clock.now))
            if Task.isCancelled { return }
        }
        pending.withLock { $0 = false }
    }
}
