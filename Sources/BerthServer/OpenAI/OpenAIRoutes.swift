import BerthGenerate
import BerthMonitor
import BerthProtocol
import Foundation
import HTTPTypes
import Hummingbird

/// The OpenAI-compatible API over the served language models: `GET /v1/models`,
/// `POST /v1/completions`, `POST /v1/chat/completions` (whole answers, or server-sent events
/// with `stream: true`), and vLLM's `/tokenize` and `/detokenize`. Errors take OpenAI's shape;
/// a client that goes away mid-stream cancels its sequence, which frees its KV cache blocks.
struct OpenAIRoutes: Sendable {
    let models: LLMModels
    let configuration: ServerConfiguration
    let metrics: LLMMetrics
    /// The request-path observers that apply to generations too: quotas and the access log.
    var observers: [any InferenceObserver] = []
    /// The prediction log generations are sampled into (prompt and text), when it is on.
    var log: PredictionLog? = nil

    func register(on router: Router<BerthRequestContext>) {
        router.get("/v1/models") { _, ctx in
            let cards = models.listed.filter { ctx.maySee($0.name) }
                .map { OpenAIModelCard(id: $0.name, created: $0.created, maxModelLen: $0.contextLength) }
            return try Response.json(OpenAIModelList(data: cards))
        }
        router.post("/v1/chat/completions") { req, ctx in await answer { try await chat(req, ctx) } }
        router.post("/v1/completions") { req, ctx in await answer { try await completion(req, ctx) } }
        router.post("/tokenize") { req, ctx in await answer { try await tokenize(req, ctx) } }
        router.post("/detokenize") { req, ctx in await answer { try await detokenize(req, ctx) } }
    }

    /// Runs a handler, rendering any error in OpenAI's shape (the server's error middleware would
    /// otherwise give it the V2 body).
    private func answer(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch { return OpenAIError.from(error).response }
    }

    private func read<T: Decodable>(_ type: T.Type, _ req: Request) async throws -> T {
        let buffer = try await ResponseFactory.collect(req, limit: configuration.maxBodySize, timeout: configuration.bodyTimeout)
        guard buffer.readableBytes > 0 else { throw OpenAIError.badRequest("the request body is empty") }
        return try JSONBody.decode(T.self, from: Data(buffer: buffer), what: "the body")
    }

    /// Holds the version that answers `name` (and its shadow) for the request; the caller releases them.
    private func acquire(_ name: String, _ req: Request, _ ctx: BerthRequestContext) throws -> LLMModels.Routed {
        guard ctx.maySee(models.baseName(name)) else { throw OpenAIError.modelNotFound(name) }
        let routed = try models.acquire(name, key: req.headers[V2Routes.routingKeyField])
        metrics.routed(model: routed.lease.servable.name, version: routed.lease.servable.version, side: routed.side)
        return routed
    }

    /// For the tokenizer routes: the version, held only while the body runs.
    private func withServable<T>(_ name: String, _ req: Request, _ ctx: BerthRequestContext, _ body: (LLMServable) throws -> T) throws -> T {
        let routed = try acquire(name, req, ctx)
        defer { routed.lease.release(); routed.shadow?.release() }
        return try body(routed.lease.servable)
    }

    // MARK: chat

    private func chat(_ req: Request, _ ctx: BerthRequestContext) async throws -> Response {
        let body = try await read(ChatCompletionRequest.self, req)
        let routed = try acquire(body.model, req, ctx)
        let m = routed.lease.servable
        // Released when the answer is complete; a stream hands its lease to the response body.
        var streaming = false
        defer { if !streaming { routed.lease.release() } }
        guard !body.messages.isEmpty else { throw OpenAIError.badRequest("messages must not be empty", param: "messages") }
        for msg in body.messages where !["system", "user", "assistant", "developer", "tool"].contains(msg.role) {
            throw OpenAIError.badRequest("unknown message role '\(msg.role)'", param: "messages")
        }
        let messages = body.messages.map { ChatMessage(role: $0.role == "developer" ? "system" : $0.role, content: $0.content?.text ?? "") }
        let text = try m.template.render(messages: messages, addGenerationPrompt: body.addGenerationPrompt ?? true, extra: m.templateVariables)
        let prompt = m.tokenizer.encode(text, addSpecial: false, parseSpecial: true)
        let logprobs: Int? = body.logprobs == true ? (body.topLogprobs ?? 0) : nil
        if body.topLogprobs != nil && body.logprobs != true { throw OpenAIError.badRequest("top_logprobs needs logprobs: true", param: "top_logprobs") }
        let request = try generationRequest(m, prompt: prompt, fields: body.sampling, logprobs: logprobs,
                                            maxTokens: body.sampling.maxCompletionTokens ?? body.sampling.maxTokens, defaultMax: nil)
        let id = "chatcmpl-" + Self.randomID()
        let admission = try LLMAdmission(observers: observers, model: m.name, version: m.version, caller: ctx.principal, promptTokens: prompt.count,
                                         log: log, id: id, prompt: text)
        let created = Int(Date().timeIntervalSince1970)
        let n = body.sampling.choices
        let stream = OpenAIChoices(count: n).generate(request, on: m.engine)
        mirror(request, to: routed.shadow, admission: admission)
        let metrics = self.metrics
        if body.sampling.stream == true {
            let includeUsage = body.sampling.streamOptions?.includeUsage == true
            streaming = true
            let lease = routed.lease
            return sse { emit in
                defer { lease.release() }
                var tally = OpenAIChoices.Tally(count: n, metrics: metrics, model: m)
                try await emit(ChatCompletionChunk(id: id, created: created, model: m.name,
                                                   choices: (0..<n).map { ChatChunkChoice(index: $0, delta: ChatDelta(role: "assistant", content: ""), logprobs: nil, finishReason: nil) },
                                                   usage: nil))
                for await (i, event) in stream {
                    switch event {
                    case .token(let t):
                        tally.token(i, t)
                        let lp = logprobs.map { _ in ChatLogprobs(content: [chatLogprob(m, t)]) }
                        if t.text.isEmpty && lp == nil { continue }
                        try await emit(ChatCompletionChunk(id: id, created: created, model: m.name,
                                                           choices: [ChatChunkChoice(index: i, delta: ChatDelta(role: nil, content: t.text), logprobs: lp, finishReason: nil)],
                                                           usage: nil))
                    case .finished(let s):
                        tally.finished(i, s)
                        try await emit(ChatCompletionChunk(id: id, created: created, model: m.name,
                                                           choices: [ChatChunkChoice(index: i, delta: ChatDelta(role: nil, content: s.trailingText.isEmpty ? nil : s.trailingText),
                                                                                     logprobs: nil, finishReason: s.reason.rawValue)],
                                                           usage: nil))
                        guard tally.done else { continue }
                        let usage = tally.usage
                        admission.finish(tokens: usage.totalTokens, text: tally.text[0])
                        if includeUsage {
                            try await emit(ChatCompletionChunk(id: id, created: created, model: m.name, choices: [], usage: usage))
                        }
                    case .failed(let e):
                        admission.finish(error: e)
                        try await emit(OpenAIError.Body(error: .init(message: "\(e)", type: "server_error", param: nil, code: nil)))
                        return  // the other choices are cancelled with the stream
                    }
                }
            }
        }
        var tally = OpenAIChoices.Tally(count: n, metrics: metrics, model: m)
        var tokens = [[ChatTokenLogprob]](repeating: [], count: n)
        for await (i, event) in stream {
            switch event {
            case .token(let t):
                tally.token(i, t)
                if logprobs != nil { tokens[i].append(chatLogprob(m, t)) }
            case .finished(let s):
                tally.finished(i, s)
                guard tally.done else { continue }
                let usage = tally.usage
                admission.finish(tokens: usage.totalTokens, text: tally.text[0])
                return try Response.json(ChatCompletion(
                    id: id, created: created, model: m.name,
                    choices: (0..<n).map { c in
                        ChatChoice(index: c, message: ChatMessageOut(role: "assistant", content: tally.text[c]),
                                   logprobs: logprobs == nil ? nil : ChatLogprobs(content: tokens[c]), finishReason: tally.finish[c]!.reason.rawValue)
                    },
                    usage: usage))
            case .failed(let e):
                admission.finish(error: e)
                throw e
            }
        }
        throw OpenAIError(status: .serviceUnavailable, message: "generation ended without a result", type: "server_error", param: nil, code: nil)
    }

    private func chatLogprob(_ m: LLMServable, _ t: GeneratedToken) -> ChatTokenLogprob {
        let bytes = m.tokenizer.pieceBytes(t.token, special: true)
        return ChatTokenLogprob(token: String(decoding: bytes, as: UTF8.self), logprob: t.logprob, bytes: bytes,
                                topLogprobs: t.top.map {
                                    let b = m.tokenizer.pieceBytes($0.token, special: true)
                                    return TopLogprob(token: String(decoding: b, as: UTF8.self), logprob: $0.logprob, bytes: b)
                                })
    }

    // MARK: completions

    private func completion(_ req: Request, _ ctx: BerthRequestContext) async throws -> Response {
        let body = try await read(CompletionRequest.self, req)
        let routed = try acquire(body.model, req, ctx)
        let m = routed.lease.servable
        var streaming = false
        defer { if !streaming { routed.lease.release() } }
        let prompt: [Int]
        switch body.prompt {
        case .text(let s): prompt = m.tokenizer.encode(s, addSpecial: true, parseSpecial: true)
        case .tokens(let t):
            guard t.allSatisfy({ $0 >= 0 && $0 < m.tokenizer.vocab.count }) else {
                throw OpenAIError.badRequest("prompt token ids must be in 0..<\(m.tokenizer.vocab.count)", param: "prompt")
            }
            prompt = t
        }
        if let l = body.logprobs, !(0...20).contains(l) { throw OpenAIError.badRequest("logprobs must be between 0 and 20", param: "logprobs") }
        let request = try generationRequest(m, prompt: prompt, fields: body.sampling, logprobs: body.logprobs,
                                            maxTokens: body.sampling.maxTokens, defaultMax: 16)
        let id = "cmpl-" + Self.randomID()
        let admission = try LLMAdmission(observers: observers, model: m.name, version: m.version, caller: ctx.principal, promptTokens: prompt.count,
                                         log: log, id: id, prompt: m.tokenizer.decode(prompt))
        let created = Int(Date().timeIntervalSince1970)
        let echo = body.echo == true ? m.tokenizer.decode(prompt) : ""
        let n = body.sampling.choices
        let stream = OpenAIChoices(count: n).generate(request, on: m.engine)
        mirror(request, to: routed.shadow, admission: admission)
        let wantLogprobs = body.logprobs != nil
        @Sendable func logprobEntry(_ t: GeneratedToken, offset: Int, into lp: inout CompletionLogprobs) {
            lp.tokens.append(String(decoding: m.tokenizer.pieceBytes(t.token, special: true), as: UTF8.self))
            lp.tokenLogprobs.append(t.logprob)
            var top: [String: Float] = [:]
            for a in t.top { top[String(decoding: m.tokenizer.pieceBytes(a.token, special: true), as: UTF8.self)] = a.logprob }
            lp.topLogprobs.append(top)
            lp.textOffset.append(offset)
        }
        let metrics = self.metrics
        if body.sampling.stream == true {
            let includeUsage = body.sampling.streamOptions?.includeUsage == true
            streaming = true
            let lease = routed.lease
            return sse { emit in
                defer { lease.release() }
                var tally = OpenAIChoices.Tally(count: n, metrics: metrics, model: m, initialText: echo)
                if !echo.isEmpty {
                    try await emit(Completion(id: id, created: created, model: m.name,
                                              choices: (0..<n).map { CompletionChoice(index: $0, text: echo, logprobs: nil, finishReason: nil) }, usage: nil))
                }
                for await (i, event) in stream {
                    switch event {
                    case .token(let t):
                        var lp = CompletionLogprobs()
                        if wantLogprobs { logprobEntry(t, offset: tally.text[i].utf8.count, into: &lp) }
                        tally.token(i, t)
                        if t.text.isEmpty && !wantLogprobs { continue }
                        try await emit(Completion(id: id, created: created, model: m.name,
                                                  choices: [CompletionChoice(index: i, text: t.text, logprobs: wantLogprobs ? lp : nil, finishReason: nil)], usage: nil))
                    case .finished(let s):
                        tally.finished(i, s)
                        try await emit(Completion(id: id, created: created, model: m.name,
                                                  choices: [CompletionChoice(index: i, text: s.trailingText, logprobs: nil, finishReason: s.reason.rawValue)], usage: nil))
                        guard tally.done else { continue }
                        let usage = tally.usage
                        admission.finish(tokens: usage.totalTokens, text: String(tally.text[0].dropFirst(echo.count)))
                        if includeUsage {
                            try await emit(Completion(id: id, created: created, model: m.name, choices: [], usage: usage))
                        }
                    case .failed(let e):
                        admission.finish(error: e)
                        try await emit(OpenAIError.Body(error: .init(message: "\(e)", type: "server_error", param: nil, code: nil)))
                        return  // the other choices are cancelled with the stream
                    }
                }
            }
        }
        var tally = OpenAIChoices.Tally(count: n, metrics: metrics, model: m, initialText: echo)
        var lps = [CompletionLogprobs](repeating: CompletionLogprobs(), count: n)
        for await (i, event) in stream {
            switch event {
            case .token(let t):
                if wantLogprobs { logprobEntry(t, offset: tally.text[i].utf8.count, into: &lps[i]) }
                tally.token(i, t)
            case .finished(let s):
                tally.finished(i, s)
                guard tally.done else { continue }
                let usage = tally.usage
                admission.finish(tokens: usage.totalTokens, text: String(tally.text[0].dropFirst(echo.count)))
                return try Response.json(Completion(
                    id: id, created: created, model: m.name,
                    choices: (0..<n).map { c in
                        CompletionChoice(index: c, text: tally.text[c], logprobs: wantLogprobs ? lps[c] : nil, finishReason: tally.finish[c]!.reason.rawValue)
                    },
                    usage: usage))
            case .failed(let e):
                admission.finish(error: e)
                throw e
            }
        }
        throw OpenAIError(status: .serviceUnavailable, message: "generation ended without a result", type: "server_error", param: nil, code: nil)
    }

    /// Checks the prompt and `max_tokens` against the context, as vLLM words it.
    private func generationRequest(_ m: LLMServable, prompt: [Int], fields: SamplingFields, logprobs: Int?,
                                   maxTokens: Int?, defaultMax: Int?) throws -> GenerationRequest {
        let ctxLen = m.contextLength
        guard !prompt.isEmpty else { throw OpenAIError.badRequest("the prompt is empty", param: "prompt") }
        guard prompt.count < ctxLen else {
            throw OpenAIError.badRequest("This model's maximum context length is \(ctxLen) tokens. However, your prompt has \(prompt.count) tokens. Please reduce the length of the prompt.", param: "messages")
        }
        if let maxTokens, maxTokens < 1 { throw OpenAIError.badRequest("max_tokens must be at least 1", param: "max_tokens") }
        let max = maxTokens ?? min(defaultMax ?? Int.max, ctxLen - prompt.count)
        guard prompt.count + max <= ctxLen else {
            throw OpenAIError.badRequest("This model's maximum context length is \(ctxLen) tokens. However, you requested \(prompt.count + max) tokens (\(prompt.count) in the prompt, \(max) in the completion). Please reduce the length of the prompt or completion.", param: "max_tokens")
        }
        let stops = fields.stop?.values ?? []
        guard stops.count <= 4, stops.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 256 }) else {
            throw OpenAIError.badRequest("stop takes at most 4 non-empty strings", param: "stop")
        }
        return GenerationRequest(prompt: prompt, maxTokens: max, sampling: try fields.parameters(logprobs: logprobs),
                                 stopTokens: fields.ignoreEOS == true ? [] : m.stopTokens, stopStrings: stops)
    }

    // MARK: tokenizer

    private func tokenize(_ req: Request, _ ctx: BerthRequestContext) async throws -> Response {
        let body = try await read(TokenizeRequest.self, req)
        return try withServable(body.model, req, ctx) { m in
        let tokens: [Int]
        if let messages = body.messages {
            let text = try m.template.render(messages: messages.map { ChatMessage(role: $0.role, content: $0.content?.text ?? "") },
                                             addGenerationPrompt: body.addGenerationPrompt ?? true, extra: m.templateVariables)
            tokens = m.tokenizer.encode(text, addSpecial: body.addSpecialTokens ?? false, parseSpecial: true)
        } else if let prompt = body.prompt {
            tokens = m.tokenizer.encode(prompt, addSpecial: body.addSpecialTokens ?? true, parseSpecial: true)
        } else {
            throw OpenAIError.badRequest("give prompt or messages", param: "prompt")
        }
        return try Response.json(TokenizeResponse(count: tokens.count, maxModelLen: m.contextLength, tokens: tokens))
        }
    }

    private func detokenize(_ req: Request, _ ctx: BerthRequestContext) async throws -> Response {
        let body = try await read(DetokenizeRequest.self, req)
        return try withServable(body.model, req, ctx) { m in
        guard body.tokens.allSatisfy({ $0 >= 0 && $0 < m.tokenizer.vocab.count }) else {
            throw OpenAIError.badRequest("token ids must be in 0..<\(m.tokenizer.vocab.count)", param: "tokens")
        }
        return try Response.json(DetokenizeResponse(prompt: m.tokenizer.decode(body.tokens)))
        }
    }

    /// Runs a copy of the request on the shadow version in the background (load and latency as
    /// production would see them); its text is only compared with production's (its tokens stay
    /// out of the model's metrics). The shadow's hold ends with it.
    private func mirror(_ request: GenerationRequest, to shadow: LLMLease?, admission: LLMAdmission) {
        guard let shadow else { return }
        let metrics = self.metrics, s = shadow.servable
        let compare = LLMShadowCompare { metrics.shadow(model: s.name, version: s.version, outcome: $0) }
        admission.compare(with: compare)
        Task.detached {
            defer { shadow.release() }
            var text = ""
            for await event in s.engine.generate(request) {
                switch event {
                case .token(let t): text += t.text
                case .finished(let f): compare.shadow(text + f.trailingText)
                case .failed: compare.shadow(nil)
                }
            }
        }
    }

    // MARK: server-sent events

    /// A `text/event-stream` response: each emitted value is one `data: {json}` event, then
    /// `data: [DONE]`. When the client goes away the write throws, the loop ends and the
    /// generation stream is released, which cancels the sequence.
    private func sse(_ produce: @escaping @Sendable (_ emit: (any Encodable) async throws -> Void) async throws -> Void) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            var w = writer
            try await produce { value in
                var data = Data("data: ".utf8)
                data += try encoder.encode(value)
                data += Data("\n\n".utf8)
                try await w.write(ByteBuffer(bytes: data))
            }
            try await w.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await w.finish(nil)
        })
    }

    static func randomID() -> String {
        (0..<12).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
    }
}
