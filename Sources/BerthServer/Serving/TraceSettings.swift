import Tracing

/// Which requests are traced, changeable while the server runs through Triton's trace extension
/// (`GET/POST /v2/trace/setting`): the level (`OFF` or `TIMESTAMPS`: Berth's spans carry the
/// timestamps of decode, queue, compute and encode), a rate (every N-th request) and a count
/// (traces left; -1: no limit). Traces go to the OTLP exporter `--otel-endpoint` set up; without
/// one nothing is traced and tracing cannot be turned on.
public final class TraceSettings: Sendable {
    /// The process-wide settings every ``RequestTrace`` consults.
    public static let shared = TraceSettings()

    struct State: Equatable {
        var on = true
        var rate = 1
        var count = -1
        /// Requests seen since tracing was (re)configured, for the rate.
        var seen = 0
    }

    private let state = Locked(State())

    /// True when a tracer is installed (`--otel-endpoint`).
    var exporting: Bool { !(InstrumentationSystem.tracer is NoOpTracer) }

    /// The current level, rate and count.
    var current: (on: Bool, rate: Int, count: Int) {
        state.withLock { ($0.on && exporting, $0.rate, $0.count) }
    }

    /// Whether this request is traced: counts it against the rate and the remaining count.
    func sample() -> Bool {
        guard exporting else { return false }
        return state.withLock { s in
            guard s.on, s.count != 0 else { return false }
            s.seen += 1
            guard (s.seen - 1) % s.rate == 0 else { return false }
            if s.count > 0 { s.count -= 1 }
            return true
        }
    }

    /// Applies new values (nil keeps the current one) and restarts the rate's count.
    func update(on: Bool?, rate: Int?, count: Int?) {
        state.withLock { s in
            if let on { s.on = on }
            if let rate { s.rate = rate }
            if let count { s.count = count }
            s.seen = 0
        }
    }
}
