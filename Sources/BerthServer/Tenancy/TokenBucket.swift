/// A token bucket: `rate` tokens a second, holding at most one second's worth (`rate`, at least 1).
/// A request larger than the whole bucket is let through when the bucket is full, leaving it in
/// debt, so a big batch is slowed to the rate instead of refused forever.
struct TokenBucket {
    let rate: Double
    private(set) var tokens: Double
    private var updatedNs: UInt64

    init(rate: Double, now: UInt64) {
        self.rate = rate
        tokens = Swift.max(1, rate)
        updatedNs = now
    }

    var capacity: Double { Swift.max(1, rate) }

    /// Adds the tokens earned since the last call.
    mutating func refill(now: UInt64) {
        guard now > updatedNs else { return }
        tokens = Swift.min(capacity, tokens + Double(now - updatedNs) / 1e9 * rate)
        updatedNs = now
    }

    /// Seconds until `cost` could be taken; 0 when it can be now. Call ``refill(now:)`` first.
    func wait(for cost: Double) -> Double {
        let needed = Swift.min(cost, capacity)
        return tokens >= needed ? 0 : (needed - tokens) / rate
    }

    /// Takes `cost` tokens (possibly into debt; see the type's documentation).
    mutating func take(_ cost: Double) { tokens -= cost }
}
