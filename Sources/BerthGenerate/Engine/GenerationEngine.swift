import Foundation
import Logging

/// Engine limits.
public struct EngineOptions: Sendable {
    /// KV cache memory budget in bytes.
    public var kvCacheBytes: Int = 256 << 20
    /// Tokens per KV cache block.
    public var blockSize: Int = 16
    /// Most sequences decoded together in one step.
    public var maxRunningSequences: Int = 16
    /// Most tokens (prefill chunks plus decode tokens) in one forward pass.
    public var maxBatchTokens: Int = 256
    /// Reuse the KV cache blocks of prompts that start like an earlier one.
    public var prefixCaching = true
    /// A pause after every step, to pace generation (tests that need a stream to outlast a swap;
    /// the server reads it from `BERTH_LLM_STEP_DELAY_MS`). Zero: none.
    public var stepDelayMicroseconds: UInt32 = 0
    public init() {}
}

/// Live engine numbers (for metrics).
public struct EngineStats: Sendable {
    public let running: Int
    public let waiting: Int
    public let kvCacheUsage: Double
    /// Prompt blocks looked up in, and found in, the prefix cache.
    public var prefixQueries = 0
    public var prefixHits = 0
}

/// Generates completions for many concurrent requests with iteration-level (continuous)
/// batching, the scheduling of Orca and vLLM: every step runs one forward pass holding one
/// decode token of every running sequence plus prefill chunks of newly admitted ones, so a new
/// request joins at the next step rather than after the current batch. Sequences are admitted
/// while the KV cache can hold their prompt plus `max_tokens` (no preemption needed), and a
/// finished or cancelled sequence returns its blocks at the next step boundary.
///
/// The loop runs on its own thread (a forward pass is long, blocking CPU work that must not
/// occupy a Swift concurrency thread); results stream out through `AsyncStream`s.
public final class GenerationEngine: @unchecked Sendable {
    public let model: any CausalLanguageModel
    public let tokenizer: Tokenizer
    public let options: EngineOptions
    let cache: PagedKVCache
    private let logger: Logger
    private let cond = NSCondition()
    private var incoming: [SequenceState] = []
    private var cancelled: Set<Int> = []
    private var waiting: [SequenceState] = []
    private var running: [SequenceState] = []
    private var nextID = 0
    private var stopping = false
    private var thread: Thread?
    private var promisedBlocks = 0
    private var statsValue = EngineStats(running: 0, waiting: 0, kvCacheUsage: 0)

    public init(model: any CausalLanguageModel, tokenizer: Tokenizer, options: EngineOptions = EngineOptions(),
                logger: Logger = Logger(label: "berth.generate")) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.options = options
        self.logger = logger
        cache = try model.makeCache(budgetBytes: options.kvCacheBytes, blockSize: options.blockSize)
        // The thread keeps the engine alive until shutdown() ends the loop.
        let t = Thread { self.loop() }
        t.name = "berth-generate"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Tokens one sequence may hold at most (the context, bounded by the whole cache).
    public var maxSequenceTokens: Int { min(model.contextLength, cache.capacityTokens) }

    /// Queues `request`; the stream yields its tokens, then `.finished` (or `.failed`).
    /// Ending the stream early (a client disconnect) cancels the sequence.
    public func generate(_ request: GenerationRequest) -> AsyncStream<GenerationEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: GenerationEvent.self)
        let total = request.prompt.count + max(request.maxTokens, 0)
        if request.prompt.isEmpty || total > maxSequenceTokens {
            continuation.yield(.failed(.invalidRequest(request.prompt.isEmpty ? "the prompt is empty"
                : "prompt (\(request.prompt.count) tokens) plus max_tokens (\(request.maxTokens)) exceeds the \(maxSequenceTokens)-token context")))
            continuation.finish()
            return stream
        }
        cond.lock()
        let id = nextID
        nextID += 1
        incoming.append(SequenceState(id: id, request: request, continuation: continuation))
        cond.signal()
        cond.unlock()
        continuation.onTermination = { [weak self] reason in
            if case .cancelled = reason { self?.cancel(id) }
        }
        return stream
    }

    /// Stops the sequence `id`; its blocks return to the pool at the next step.
    func cancel(_ id: Int) {
        cond.lock()
        cancelled.insert(id)
        cond.signal()
        cond.unlock()
    }

    public var stats: EngineStats {
        cond.lock(); defer { cond.unlock() }
        return statsValue
    }

    /// Ends the loop after failing every queued and running sequence.
    public func shutdown() {
        cond.lock()
        stopping = true
        cond.signal()
        cond.unlock()
    }

    // MARK: the loop

    private func loop() {
        while true {
            cond.lock()
            while incoming.isEmpty && cancelled.isEmpty && running.isEmpty && waiting.isEmpty && !stopping { cond.wait() }
            if stopping {
                let all = incoming + waiting + running
                incoming = []; waiting = []; running = []
                cond.unlock()
                for s in all { s.continuation.yield(.failed(.invalidRequest("the model is shutting down"))); s.continuation.finish(); cache.release(s.id); model.release(sequence: s.id) }
                return
            }
            waiting += incoming
            incoming = []
            let gone = cancelled
            cancelled = []
            cond.unlock()

            if !gone.isEmpty {
                for s in running where gone.contains(s.id) { finish(s, .cancelled) }
                running.removeAll { gone.contains($0.id) }
                waiting.removeAll { s in
                    guard gone.contains(s.id) else { return false }
                    s.continuation.finish()
                    return true
                }
            }
            admit()
            if !running.isEmpty {
                step()
                if options.stepDelayMicroseconds > 0 { usleep(options.stepDelayMicroseconds) }
            }
            running.removeAll { $0.done }
            cond.lock()
            statsValue = EngineStats(running: running.count, waiting: waiting.count + incoming.count, kvCacheUsage: cache.usage,
                                     prefixQueries: cache.prefixQueries, prefixHits: cache.prefixHits)
            cond.unlock()
        }
    }

    private func blocks(_ s: SequenceState) -> Int {
        (s.request.prompt.count + s.request.maxTokens + options.blockSize - 1) / options.blockSize
    }

    /// Moves waiting sequences to running, first come first served, while their whole budget fits.
    private func admit() {
        while let s = waiting.first, running.count < options.maxRunningSequences, promisedBlocks + blocks(s) <= cache.blockCount {
            waiting.removeFirst()
            promisedBlocks += blocks(s)
            if options.prefixCaching && model.supportsPrefixCaching {
                // Whole blocks only, and never the last prompt token: its logits start the answer.
                s.blockHashes = cache.blockHashes(Array(s.request.prompt.prefix(s.request.prompt.count - 1)))
                let reused = cache.adoptPrefix(s.id, hashes: s.blockHashes)
                s.prefilled = reused
                s.cached = reused
            }
            running.append(s)
        }
    }

    /// One forward pass: a decode token for every sequence past its prompt, then prefill chunks.
    private func step() {
        var budget = options.maxBatchTokens
        var chunks: [ForwardChunk] = []
        var owners: [SequenceState] = []
        for s in running where s.prefilled == s.request.prompt.count && !s.done {
            guard let last = s.generated.last else { continue }
            chunks.append(ForwardChunk(sequence: s.id, tokens: [last], startPosition: s.cached, wantLogits: true))
            owners.append(s)
            budget -= 1
        }
        for s in running where s.prefilled < s.request.prompt.count && budget > 0 {
            let n = min(budget, s.request.prompt.count - s.prefilled)
            let toks = Array(s.request.prompt[s.prefilled..<(s.prefilled + n)])
            chunks.append(ForwardChunk(sequence: s.id, tokens: toks, startPosition: s.cached,
                                       wantLogits: s.prefilled + n == s.request.prompt.count))
            owners.append(s)
            budget -= n
        }
        guard !chunks.isEmpty else { return }
        let logits: [[Float]?]
        do {
            for (c, s) in zip(chunks, owners) { try cache.reserve(s.id, newLength: c.startPosition + c.tokens.count) }
            logits = try model.forward(chunks, cache: cache)
        } catch {
            let e = error as? GenerateError ?? .invalidRequest("\(error)")
            logger.error("forward pass failed", metadata: ["error": "\(e)"])
            for s in owners { s.continuation.yield(.failed(e)); release(s); s.done = true; s.continuation.finish() }
            return
        }
        for (k, s) in owners.enumerated() {
            let c = chunks[k]
            let before = s.cached
            s.cached += c.tokens.count
            if s.prefilled < s.request.prompt.count { s.prefilled += c.tokens.count }
            // Prompt blocks this chunk completed become reusable by later prompts.
            let (lo, hi) = (before / options.blockSize, min(s.cached / options.blockSize, s.blockHashes.count))
            if hi > lo { for b in lo..<hi { cache.register(s.id, blockIndex: b, hash: s.blockHashes[b]) } }
            guard let l = logits[k] else { continue }
            let picked = s.sampler.sample(l, prompt: s.request.prompt, generated: s.generated)
            if s.firstToken == nil { s.firstToken = Date() }
            if s.request.stopTokens.contains(picked.token) { finish(s, .stop); continue }
            s.generated.append(picked.token)
            let (delta, hitStop) = s.text.append(tokenizer.pieceBytes(picked.token), stops: s.request.stopStrings)
            s.continuation.yield(.token(GeneratedToken(token: picked.token, text: delta, logprob: picked.logprob, top: picked.top)))
            if hitStop { finish(s, .stop) }
            else if s.generated.count >= s.request.maxTokens { finish(s, .length) }
        }
    }

    private func release(_ s: SequenceState) {
        cache.release(s.id)
        model.release(sequence: s.id)
        promisedBlocks -= blocks(s)
    }

    private func finish(_ s: SequenceState, _ reason: FinishReason) {
        guard !s.done else { return }
        s.done = true
        release(s)
        let now = Date()
        s.continuation.yield(.finished(GenerationSummary(
            reason: reason, promptTokens: s.request.prompt.count, completionTokens: s.generated.count,
            trailingText: s.text.flush(),
            timeToFirstToken: s.firstToken.map { $0.timeIntervalSince(s.submitted) }, totalTime: now.timeIntervalSince(s.submitted))))
        s.continuation.finish()
    }
}

/// A sequence's progress, touched only by the engine's loop.
final class SequenceState: @unchecked Sendable {
    let id: Int
    let request: GenerationRequest
    let continuation: AsyncStream<GenerationEvent>.Continuation
    var sampler: Sampler
    var prefilled = 0
    var cached = 0
    var generated: [Int] = []
    var blockHashes: [UInt64] = []
    var text = StreamingText()
    var done = false
    let submitted = Date()
    var firstToken: Date?

    init(id: Int, request: GenerationRequest, continuation: AsyncStream<GenerationEvent>.Continuation) {
        self.id = id
        self.request = request
        self.continuation = continuation
        sampler = Sampler(request.sampling)
    }
}
