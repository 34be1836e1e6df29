import Dispatch

/// Runs blocking work (SQLite writes that may wait for another process's lock, hashing a model
/// file) on a Dispatch thread, so it never stalls the event loops that serve inference.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
