import BerthProtocol
import BerthTensor
import Foundation
import Tracing

/// The protocol-independent request path every inference takes, whatever carried it (REST now,
/// gRPC later): resolve the route (production / canary / a named version), check the request once
/// against the model, batch, run, let the observers record it (statistics, metrics, shadow
/// mirroring; later the prediction log, quotas, auth) and return a typed response.
///
/// A protocol adapter is three steps: decode its wire format into a ``V2InferenceRequest`` against
/// the ``ModelInterface`` the service hands it, call ``infer(_:decode:encode:)``, encode the typed
/// ``V2InferenceResponse``. Failures are thrown as ``ServerError`` after the observers saw them.
public struct InferenceService: Sendable {
    /// Where loaded versions come from.
    public let manager: ModelManager
    /// Called around every request, in order.
    public let observers: [any InferenceObserver]

    /// A service over `manager`'s versions. The server passes ``standardObservers(metrics:)``
    /// first, then any others.
    public init(manager: ModelManager, observers: [any InferenceObserver]) {
        self.manager = manager
        self.observers = observers
    }

    /// The observers every server has: statistics and metrics, then shadow mirroring.
    public static func standardObservers(metrics: ServerMetrics) -> [any InferenceObserver] {
        [RequestMetricsObserver(metrics: metrics), ShadowMirror(metrics: metrics)]
    }

    /// Runs one request. `decode` turns the wire request into a checked ``V2InferenceRequest`` for
    /// the routed version's interface; `encode` turns the typed answer into the wire reply (timed
    /// as part of the request, as the client sees it).
    /// `startNs` is when the adapter began reading the request (default: now).
    public func infer<Reply>(_ target: InferenceTarget, startNs: UInt64 = monotonicNanos(),
                             decode: (ModelInterface) throws -> V2InferenceRequest,
                             encode: (V2InferenceResponse) throws -> Reply) async throws -> Reply {
        var event = InferenceEvent(target: target, startNs: startNs)
        let trace = RequestTrace(target, startNs: startNs)
        var routed: RoutedServable?
        // The versions are held until the observers have run: an unload drains them first.
        defer {
            routed?.servable.release()
            routed?.shadow?.release()
        }
        do {
            let r = try route(target)
            routed = r
            event.servable = r.servable
            event.side = r.side
            event.shadow = r.shadow
            let decodeStart = monotonicNanos()
            var request = try decode(r.servable.interface)
            trace?.span("decode", decodeStart, monotonicNanos())
            // Every answer carries an id, so feedback can name the prediction it labels.
            if request.id == nil { request.id = RequestID.next() }
            event.request = request
            event.rows = request.rows
            for o in observers { try o.admit(&event) }
            let result = try await r.servable.run(request.feeds, rows: request.rows, tenant: target.caller.tenant,
                                                  weight: event.fairWeight, priority: request.priority)
            trace?.batch(result.timing, arrivedNs: monotonicNanos())
            event.outputs = result.outputs
            event.timing = result.timing
            var results = result.outputs
            if let requested = request.outputs, requested.contains(where: { $0.classCount != nil }) {
                results = try r.servable.classify(results, requested: requested)
            }
            let response = V2InferenceResponse(request: request, modelName: r.servable.model,
                                               modelVersion: r.servable.versionString,
                                               outputOrder: r.servable.interface.outputs.map(\.name), results: results)
            let encodeStart = monotonicNanos()
            let reply = try encode(response)
            event.endNs = monotonicNanos()
            trace?.span("encode", encodeStart, event.endNs)
            for o in observers { o.finished(event) }
            trace?.finish(event)
            return reply
        } catch {
            let e = ServerError.from(engine: error)
            event.error = e
            event.endNs = monotonicNanos()
            trace?.finish(event)
            finish(event, failedWith: e)
            throw e
        }
    }

    /// Lets the observers see a request the adapter refused before it reached the service (its
    /// body too large or malformed), so it counts like any other failure.
    public func recordRefused(_ target: InferenceTarget, _ error: ServerError, startNs: UInt64) {
        finish(InferenceEvent(target: target, startNs: startNs), failedWith: error)
    }

    /// Ends a failed request: its error and end time, then every observer.
    private func finish(_ event: InferenceEvent, failedWith error: ServerError) {
        var event = event
        event.error = error
        event.endNs = monotonicNanos()
        for o in observers { o.finished(event) }
    }

    /// The version that answers `target`, acquired; for a registry model also the shadow.
    private func route(_ target: InferenceTarget) throws -> RoutedServable {
        if let version = target.version {
            let s = try manager.acquire(model: target.model, version: version)
            return RoutedServable(servable: s, side: manager.route(of: target.model) == nil ? nil : .version, shadow: nil)
        }
        return try manager.acquireRouted(model: target.model, key: target.routingKey)
    }
}

/// Where a request goes and what the protocol adapter knows about its caller.
public struct InferenceTarget: Sendable {
    /// The model's name.
    public var model: String
    /// A version the caller named; nil routes by the model's traffic split (or the newest ready version).
    public var version: String?
    /// Makes a registry model's traffic split sticky: one key, one side.
    public var routingKey: String?
    /// The protocol that carried the request (`rest`, `grpc`), for observers.
    public var transport: String
    /// Who sent it, as the adapter's auth check found (quotas are per tenant); open by default.
    public var caller: Principal = .open
    /// The caller's W3C trace context (`traceparent`), the parent of the request's spans.
    public var traceContext: InstrumentationContext?

    /// A target from its parts.
    public init(model: String, version: String? = nil, routingKey: String? = nil, transport: String = "rest") {
        self.model = model
        self.version = version
        self.routingKey = routingKey
        self.transport = transport
    }
}

/// One request as the observers see it. Filled in as the request advances: a request refused at
/// routing has no servable, one refused while decoding has no request.
public struct InferenceEvent: Sendable {
    /// Where the request was sent.
    public var target: InferenceTarget
    /// Unique in this process: lets an observer match `finished` to its own `admit` (a quota's
    /// concurrency slot is released only by the request that took it).
    public let serial: UInt64 = InferenceEvent.nextSerial()
    /// When it began (monotonic nanoseconds).
    public var startNs: UInt64
    /// When its answer was ready (0 until then).
    public var endNs: UInt64 = 0
    /// The version that answers.
    public var servable: Servable?
    /// Which side of the traffic split chose it; nil for a repository model.
    public var side: TrafficRoute.Side?
    /// The shadow version the request is mirrored to, held by the service until every observer ran.
    public var shadow: Servable?
    /// The decoded, checked request.
    public var request: V2InferenceRequest?
    /// Rows the request carries (1 until it is decoded).
    public var rows = 1
    /// The caller's tenant's share of the batching queue against other tenants (set by the quota
    /// observer from `berth tenants quota --weight`).
    public var fairWeight = 1.0
    /// The model's outputs.
    public var outputs: [String: Tensor]?
    /// Time spent queued and computing.
    var timing: BatchTiming?
    /// Why the request failed; nil on success.
    public var error: ServerError?

    /// The request's wall time so far.
    public var totalNs: UInt64 { endNs >= startNs ? endNs - startNs : 0 }

    private static let serials = Locked<UInt64>(0)
    private static func nextSerial() -> UInt64 { serials.withLock { $0 &+= 1; return $0 } }
}

/// A hook on the request path. `admit` runs after the request is decoded and before the model
/// runs: throwing refuses the request (authorisation, quotas). `finished` runs once per request,
/// success or failure, before the reply is sent: keep it cheap and hand slow work to a task.
public protocol InferenceObserver: Sendable {
    /// Refuses a request by throwing (a ``ServerError``), or lets it run.
    func admit(_ event: inout InferenceEvent) throws
    /// Records a finished request.
    func finished(_ event: InferenceEvent)
}

extension InferenceObserver {
    /// Admits every request.
    public func admit(_ event: inout InferenceEvent) throws {}
}
