import BerthGenerate
import Foundation

/// The `n` choices of one OpenAI request: one generation each, run concurrently on the same
/// engine (continuous batching serves them together; their prompt blocks are shared through the
/// prefix cache), merged into one stream of (choice index, event). With a `seed`, choice i samples
/// with seed + i, so a seeded request is reproducible and its choices still differ.
struct OpenAIChoices: Sendable {
    let count: Int

    /// Starts the generations. Dropping the returned stream (a client that went away) cancels them,
    /// which frees their KV cache blocks.
    func generate(_ request: GenerationRequest, on engine: GenerationEngine) -> AsyncStream<(index: Int, event: GenerationEvent)> {
        let (stream, continuation) = AsyncStream.makeStream(of: (index: Int, event: GenerationEvent).self)
        let tasks = (0..<count).map { i in
            var r = request
            if i > 0 { r.sampling.seed = request.sampling.seed.map { $0 &+ UInt64(i) } }
            let choice = r
            return Task {
                for await event in engine.generate(choice) {
                    continuation.yield((i, event))
                }
            }
        }
        let all = Task {
            for t in tasks { await t.value }
            continuation.finish()
        }
        continuation.onTermination = { _ in
            for t in tasks { t.cancel() }
            all.cancel()
        }
        return stream
    }

    /// Per-choice bookkeeping while the events arrive: text so far, how each ended, the token
    /// counts for `usage`, and one metrics recorder per choice (each is a sequence to the engine).
    struct Tally {
        var text: [String]
        var finish: [GenerationSummary?]
        var recorders: [LLMMetrics.Recorder]
        private(set) var failure: GenerateError?

        init(count: Int, metrics: LLMMetrics, model: LLMServable, initialText: String = "") {
            text = Array(repeating: initialText, count: count)
            finish = Array(repeating: nil, count: count)
            recorders = (0..<count).map { _ in metrics.request(model) }
        }

        mutating func token(_ i: Int, _ t: GeneratedToken) {
            recorders[i].token()
            text[i] += t.text
        }

        mutating func finished(_ i: Int, _ s: GenerationSummary) {
            recorders[i].finish(s)
            text[i] += s.trailingText
            finish[i] = s
        }

        mutating func failed(_ e: GenerateError) { if failure == nil { failure = e } }

        /// Whether every choice has ended.
        var done: Bool { finish.allSatisfy { $0 != nil } }

        /// Prompt tokens once (the choices share the prompt), completion tokens of every choice.
        var usage: Usage {
            let ended = finish.compactMap { $0 }
            return Usage(promptTokens: ended.first?.promptTokens ?? 0, completionTokens: ended.reduce(0) { $0 + $1.completionTokens })
        }
    }
}
