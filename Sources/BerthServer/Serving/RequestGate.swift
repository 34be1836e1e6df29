import Foundation

/// Counts the requests using one servable, so that unloading it can wait until the last of them
/// has finished (TF Serving's "drain"). After ``closeAndWait()`` begins, ``enter()`` refuses; the
/// caller then looks the model up again and finds the version that replaced it.
final class RequestGate: @unchecked Sendable {
    private let lock = NSLock()
    private var active = 0
    private var closed = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Registers one request; false once the gate is closing.
    func enter() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if closed { return false }
        active += 1
        return true
    }

    /// Ends a request registered by a successful ``enter()``.
    func leave() {
        lock.lock()
        active -= 1
        var wake: [CheckedContinuation<Void, Never>] = []
        if closed && active == 0 { swap(&wake, &waiters) }
        lock.unlock()
        for w in wake { w.resume() }
    }

    /// Requests registered right now.
    var count: Int { lock.lock(); defer { lock.unlock() }; return active }

    /// Refuses new requests and returns when every registered one has left.
    func closeAndWait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            closed = true
            if active == 0 {
                lock.unlock()
                c.resume()
                return
            }
            waiters.append(c)
            lock.unlock()
        }
    }
}
