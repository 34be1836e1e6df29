import Foundation

/// A value guarded by a lock. The request path reads the serving table and statistics through it,
/// where an actor hop would cost more than the work under the lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Monotonic nanoseconds, for queue and compute durations.
@inline(__always)
public func monotonicNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
