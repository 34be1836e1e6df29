import BerthMonitor
import BerthTensor
import Foundation

/// Tenant quotas and the access log for one generation, through the same observers a V2 request
/// passes (``QuotaObserver``, ``AccessLog``): admitted once its prompt is checked — the rows/s
/// quota counts prompt tokens, so a tenant's token rate is limited as its request rate is — and
/// finished when the generation ends, fails or its client goes away (a dropped stream is
/// finished when the last reference goes).
final class LLMAdmission: @unchecked Sendable {
    // @unchecked: `event` and `done` are guarded by `lock`.
    private let lock = NSLock()
    private var event: InferenceEvent
    private var done = false
    private let observers: [any InferenceObserver]
    /// The prediction log and what to record in it: the id answered and the prompt text.
    private let log: PredictionLog?
    private let id: String, prompt: String

    /// Admits a generation of `model` for `caller`; throws a 429 ``ServerError`` over a quota.
    /// A sampled generation goes to `log` as `prompt` → `text` strings (masking rules apply by
    /// those names).
    init(observers: [any InferenceObserver], model: String, caller: Principal, promptTokens: Int,
         log: PredictionLog? = nil, id: String = "", prompt: String = "") throws {
        self.log = log
        self.id = id
        self.prompt = prompt
        var target = InferenceTarget(model: model, transport: "openai")
        target.caller = caller
        var e = InferenceEvent(target: target, startNs: monotonicNanos())
        e.rows = promptTokens
        do {
            for o in observers { try o.admit(&e) }
        } catch {
            // A refused generation is logged like a refused V2 request (observers ignore what they did not admit).
            e.endNs = monotonicNanos()
            e.error = ServerError.from(engine: error)
            for o in observers { o.finished(e) }
            throw error
        }
        event = e
        self.observers = observers
    }

    /// Records the end once: the tokens it used in all (prompt and completion) and the text it
    /// generated, or why it failed.
    func finish(tokens: Int? = nil, text: String? = nil, error: (any Error)? = nil) {
        let e: InferenceEvent? = lock.withLock {
            guard !done else { return nil }
            done = true
            event.endNs = monotonicNanos()
            if let tokens { event.rows = tokens }
            if let error { event.error = ServerError.from(engine: error) }
            return event
        }
        guard let e else { return }
        for o in observers { o.finished(e) }
        if let log, let text, e.error == nil, log.sample(), let p = try? Tensor(shape: [1], values: [prompt]),
           let t = try? Tensor(shape: [1], values: [text]) {
            log.append(PredictionRecord(id: id, time: Date(), model: e.target.model, version: "1", route: nil, transport: "openai", rows: 1,
                                        latencyMs: Double(e.totalNs) / 1e6, inputs: [("prompt", p)], outputs: [("text", t)]))
        }
    }

    deinit { finish(error: ServerError.badRequest("the client went away before the generation ended")) }
}
