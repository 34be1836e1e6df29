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
    /// The shadow copy of this generation, told the text when it ends (guarded by `lock`).
    private var shadowCompare: LLMShadowCompare?

    /// Admits a generation of `model` for `caller`; throws a 429 ``ServerError`` over a quota.
    /// A sampled generation goes to `log` as `prompt` → `text` strings (masking rules apply by
    /// those names).
    /// `version`: the registry version that answers (nil for a `--llm` model, logged as version 1).
    init(observers: [any InferenceObserver], model: String, version: Int? = nil, caller: Principal, promptTokens: Int,
         log: PredictionLog? = nil, id: String = "", prompt: String = "") throws {
        self.log = log
        self.id = id
        self.prompt = prompt
        var target = InferenceTarget(model: model, version: version.map(String.init), transport: "openai")
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

    /// Compares the text this generation ends with against `compare`'s shadow run.
    func compare(with compare: LLMShadowCompare?) { lock.withLock { shadowCompare = compare } }

    /// Records the end once: the tokens it used in all (prompt and completion) and the text it
    /// generated, or why it failed.
    func finish(tokens: Int? = nil, text: String? = nil, error: (any Error)? = nil) {
        let (e, compare): (InferenceEvent?, LLMShadowCompare?) = lock.withLock {
            guard !done else { return (nil, nil) }
            done = true
            event.endNs = monotonicNanos()
            if let tokens { event.rows = tokens }
            if let error { event.error = ServerError.from(engine: error) }
            return (event, shadowCompare)
        }
        guard let e else { return }
        compare?.production(error == nil ? text : nil)
        for o in observers { o.finished(e) }
        if let log, let text, e.error == nil, log.sample(), let p = try? Tensor(shape: [1], values: [prompt]),
           let t = try? Tensor(shape: [1], values: [text]) {
            log.append(PredictionRecord(id: id, time: Date(), model: e.target.model, version: e.target.version ?? "1", route: nil, transport: "openai", rows: 1,
                                        latencyMs: Double(e.totalNs) / 1e6, inputs: [("prompt", p)], outputs: [("text", t)]))
        }
    }

    deinit { finish(error: ServerError.badRequest("the client went away before the generation ended")) }
}

/// A generation mirrored to a registry model's shadow version: once both have ended, counts
/// whether the shadow wrote the same text (`berth_llm_shadow_requests_total`, outcome `agree`,
/// `disagree`, or `error` when the shadow failed). Greedy requests make this a regression check;
/// sampled ones agree only by chance.
final class LLMShadowCompare: Sendable {
    private enum Side: Sendable { case pending, text(String), failed }
    private let state = Locked<(production: Side, shadow: Side, recorded: Bool)>((.pending, .pending, false))
    private let record: @Sendable (String) -> Void

    /// `record` gets the outcome once.
    init(record: @escaping @Sendable (String) -> Void) { self.record = record }

    /// The production text (nil: production failed, nothing is counted).
    func production(_ text: String?) { settle { $0.production = text.map(Side.text) ?? .failed } }
    /// The shadow's text (nil: the shadow failed).
    func shadow(_ text: String?) { settle { $0.shadow = text.map(Side.text) ?? .failed } }

    private func settle(_ change: (inout (production: Side, shadow: Side, recorded: Bool)) -> Void) {
        let outcome: String? = state.withLock { s in
            change(&s)
            guard !s.recorded else { return nil }
            switch (s.production, s.shadow) {
            case (.pending, _), (_, .pending): return nil
            case (.failed, _): s.recorded = true; return nil
            case (_, .failed): s.recorded = true; return "error"
            case let (.text(a), .text(b)): s.recorded = true; return a == b ? "agree" : "disagree"
            }
        }
        if let outcome { record(outcome) }
    }
}
