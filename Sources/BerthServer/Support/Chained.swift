/// Starts `op` once `previous` has finished, so operations run one at a time in call order (an
/// actor alone does not guarantee that: its methods interleave at every `await`). Returns the
/// operation's outcome and the new tail to chain the next operation after.
func chained<T: Sendable>(after previous: Task<Void, Never>?, _ op: @escaping @Sendable () async throws -> T)
    -> (outcome: Task<Result<T, Error>, Never>, tail: Task<Void, Never>) {
    let outcome = Task { () -> Result<T, Error> in
        await previous?.value
        do { return .success(try await op()) } catch { return .failure(error) }
    }
    return (outcome, Task { _ = await outcome.value })
}
