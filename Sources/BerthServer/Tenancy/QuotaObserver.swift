import BerthRegistry
import Foundation

/// Enforces tenants' quotas on the request path: per tenant on all its models (`*`) and per
/// tenant and model, a token bucket on requests/s and one on rows/s, and a cap on requests in
/// flight. A request over any limit is refused with 429 and the seconds until it would pass
/// (`Retry-After`); nothing is taken from any bucket then, so a refused request costs no quota.
/// A request whose rows grow while it runs (a generation: prompt tokens at admission, prompt plus
/// completion tokens at the end) is charged the difference when it finishes, so the rows/s quota
/// limits completion tokens too; the bucket may go into debt and the next request waits it out.
///
/// Limits come from the ``AccessStore`` (`berth tenants quota`) and are re-read every few seconds,
/// so a change applies without a restart. Buckets live in this process: each replica enforces its
/// own share (docs/security.md).
final class QuotaObserver: InferenceObserver, @unchecked Sendable {
    fileprivate struct Key: Hashable { var tenant: String; var model: String }
    fileprivate struct State {
        var quotas: [Key: TenantQuota] = [:]
        var loadedNs: UInt64 = 0
        var loaded = false
        var reloading = false
        var requests: [Key: TokenBucket] = [:]
        var rows: [Key: TokenBucket] = [:]
        var inFlight: [Key: Int] = [:]
        /// Admitted requests still running (event serial → the keys they hold a slot under and
        /// the rows charged at admission).
        var admitted: [UInt64: (keys: [Key], rows: Int)] = [:]
    }

    private let store: any AccessStore
    private let metrics: ServerMetrics
    private let refreshNs: UInt64
    private let state = Locked(State())

    /// Quotas read from `store`, re-read every `refreshSeconds`.
    init(store: any AccessStore, metrics: ServerMetrics, refreshSeconds: Double = 2) {
        self.store = store
        self.metrics = metrics
        self.refreshNs = UInt64(refreshSeconds * 1e9)
    }

    func admit(_ event: inout InferenceEvent) throws {
        guard let tenant = event.target.caller.tenant else { return }
        let now = monotonicNanos()
        let claimed = claimReload(now)
        let fresh = claimed ? (try? store.quotas()) : nil
        try state.withLock { s in
            if claimed {
                if let fresh { s.reload(fresh, now: now) } else if s.loaded { s.loadedNs = now }  // a failed read keeps the old limits a period
                s.reloading = false
            }
            let keys = [Key(tenant: tenant, model: "*"), Key(tenant: tenant, model: event.target.model)].filter { s.quotas[$0] != nil }
            guard !keys.isEmpty else { return }
            // The most specific weight wins: the model's, else the tenant's.
            event.fairWeight = s.quotas[keys.last!]!.weight
            var wait = 0.0, why = ""
            for k in keys {
                let q = s.quotas[k]!
                let scope = k.model == "*" ? "tenant '\(tenant)'" : "tenant '\(tenant)' on '\(k.model)'"
                if let r = q.requestsPerSecond {
                    s.requests[k, default: TokenBucket(rate: r, now: now)].refill(now: now)
                    let w = s.requests[k]!.wait(for: 1)
                    if w > wait { wait = w; why = "\(scope) is over its \(Self.format(r)) requests/s" }
                }
                if let r = q.rowsPerSecond {
                    s.rows[k, default: TokenBucket(rate: r, now: now)].refill(now: now)
                    let w = s.rows[k]!.wait(for: Double(event.rows))
                    if w > wait { wait = w; why = "\(scope) is over its \(Self.format(r)) rows/s" }
                }
                if let c = q.maxConcurrent, s.inFlight[k, default: 0] >= c, wait == 0 {
                    // No rate to derive a delay from: a short retry, as a running request ends soon.
                    wait = 1; why = "\(scope) already has \(c) requests in flight"
                }
            }
            if wait > 0 { throw ServerError.rateLimited("quota exceeded: \(why)", retryAfter: wait) }
            for k in keys {
                if s.requests[k] != nil { s.requests[k]!.take(1) }
                if s.rows[k] != nil { s.rows[k]!.take(Double(event.rows)) }
                s.inFlight[k, default: 0] += 1
            }
            s.admitted[event.serial] = (keys, event.rows)
        }
    }

    func finished(_ event: InferenceEvent) {
        state.withLock { s in
            guard let (keys, charged) = s.admitted.removeValue(forKey: event.serial) else { return }
            let grown = event.rows - charged
            for k in keys {
                s.inFlight[k, default: 1] -= 1
                if grown > 0, s.rows[k] != nil { s.rows[k]!.take(Double(grown)) }
            }
        }
    }

    /// Whether this caller should re-read the quotas: one caller per refresh period claims it
    /// (the others go on with the limits they have), so the database is read once, not per request.
    private func claimReload(_ now: UInt64) -> Bool {
        state.withLock { s in
            guard !s.reloading, !s.loaded || now &- s.loadedNs >= refreshNs else { return false }
            s.reloading = true
            return true
        }
    }

    private static func format(_ v: Double) -> String { String(format: "%g", v) }
}

extension QuotaObserver.State {
    /// Replaces the limits; buckets whose rate changed start afresh, the others keep their tokens.
    fileprivate mutating func reload(_ list: [TenantQuota], now: UInt64) {
        var next: [QuotaObserver.Key: TenantQuota] = [:]
        for q in list { next[.init(tenant: q.tenant, model: q.model)] = q }
        requests = requests.filter { k, b in next[k]?.requestsPerSecond == b.rate }
        rows = rows.filter { k, b in next[k]?.rowsPerSecond == b.rate }
        quotas = next
        loadedNs = now
        loaded = true
    }
}
