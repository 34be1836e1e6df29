import BerthProtocol
import Foundation
import Tracing

/// The spans of one inference, through swift-distributed-tracing's process-wide tracer (a no-op
/// until `berth serve --otel-endpoint` bootstraps OpenTelemetry): a server span `infer` whose
/// parent is the caller's W3C `traceparent` when it sent one, with children `decode`, `queue`,
/// `compute` and `encode`. The batcher reports queue and compute as durations; they are placed
/// back in time from the moment the answer arrived.
struct RequestTrace {
    private let root: any Span
    /// Wall-clock nanoseconds minus monotonic ones: spans carry wall-clock instants.
    private let offset: Int64

    /// A trace for `target` that began at `startNs` (monotonic); nil when no tracer is installed.
    init?(_ target: InferenceTarget, startNs: UInt64) {
        // Untraced without an exporter, or when Triton's trace settings (rate, count, level) skip it.
        guard TraceSettings.shared.sample() else { return nil }
        offset = Int64(bitPattern: DefaultTracerClock.now.nanosecondsSinceEpoch) - Int64(bitPattern: monotonicNanos())
        let at = Self.instant(startNs, offset)
        root = startSpan("infer", at: at, context: target.traceContext ?? .topLevel, ofKind: .server)
        root.attributes["berth.model"] = target.model
        root.attributes["rpc.system"] = target.transport
        if let v = target.version { root.attributes["berth.requested_version"] = v }
    }

    private static func instant(_ mono: UInt64, _ offset: Int64) -> DefaultTracerClock.Instant {
        DefaultTracerClock.Instant(nanosecondsSinceEpoch: UInt64(clamping: max(0, Int64(bitPattern: mono) &+ offset)))
    }

    /// A child span from `startNs` to `endNs` (monotonic).
    func span(_ name: String, _ startNs: UInt64, _ endNs: UInt64) {
        let s = startSpan(name, at: Self.instant(startNs, offset), context: root.context, ofKind: .internal)
        s.end(at: Self.instant(max(startNs, endNs), offset))
    }

    /// `queue` and `compute` of a batched run whose answer arrived at `arrivedNs`.
    func batch(_ t: BatchTiming, arrivedNs: UInt64) {
        let compute = t.inputNs &+ t.inferNs &+ t.outputNs
        let computeStart = arrivedNs &- min(arrivedNs, compute)
        span("queue", computeStart &- min(computeStart, t.queueNs), computeStart)
        span("compute", computeStart, arrivedNs)
    }

    /// Ends the root span with what the request became.
    func finish(_ event: InferenceEvent) {
        if let s = event.servable {
            root.attributes["berth.version"] = s.versionString
        }
        root.attributes["berth.rows"] = event.rows
        if let id = event.request?.id { root.attributes["berth.request_id"] = id }
        if let e = event.error {
            root.recordError(e)
            root.setStatus(SpanStatus(code: .error, message: e.description))
        }
        root.end(at: Self.instant(event.endNs == 0 ? monotonicNanos() : event.endNs, offset))
    }
}

/// Reads W3C trace context (`traceparent`, `tracestate`) from string headers or metadata.
public struct TraceHeaderExtractor: Extractor {
    /// Looks a header up by its lowercase name.
    let lookup: @Sendable (String) -> String?

    public init(_ lookup: @escaping @Sendable (String) -> String?) { self.lookup = lookup }

    public func extract(key: String, from carrier: Void) -> String? { lookup(key.lowercased()) }

    /// The caller's trace context, nil when the request carries none (or no tracer is installed).
    public static func context(_ lookup: @escaping @Sendable (String) -> String?) -> InstrumentationContext? {
        guard !(InstrumentationSystem.tracer is NoOpTracer), lookup("traceparent") != nil else { return nil }
        var context = InstrumentationContext.topLevel
        InstrumentationSystem.instrument.extract((), into: &context, using: TraceHeaderExtractor(lookup))
        return context
    }
}
