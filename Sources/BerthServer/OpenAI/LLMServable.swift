import BerthGenerate
import Foundation
import Logging

/// One loaded language model version: its generation engine, tokenizer and chat template, and
/// the requests holding it. A version leaving service drains: the sequences it is generating
/// finish (streams are never cut by a swap), then its engine stops and its memory is returned.
public final class LLMServable: Sendable {
    /// The name clients use (the `--llm` name or the registry model's).
    public let name: String
    /// The registry version; nil for a `--llm` model.
    public let version: Int?
    /// Identifies the bytes (the artifact's SHA-256 for a registry version): equal ones are not reloaded.
    public let fingerprint: String
    public let engine: GenerationEngine
    public let template: ChatTemplate
    /// Unix time the model was loaded (`created` in `/v1/models`).
    public let created: Int
    /// Tokens that end a turn: EOS and the end-of-turn control tokens the vocabulary has.
    public let stopTokens: Set<Int>
    /// What it counts against `--llm-memory-budget`: the mapped file plus the KV cache.
    public let memoryBytes: Int
    private let holds = Locked<(count: Int, draining: Bool, drained: [CheckedContinuation<Void, Never>])>((0, false, []))

    public var tokenizer: Tokenizer { engine.tokenizer }
    public var contextLength: Int { engine.maxSequenceTokens }

    init(name: String, version: Int?, fingerprint: String, engine: GenerationEngine, template: ChatTemplate, stopTokens: Set<Int>,
         memoryBytes: Int) {
        self.name = name
        self.version = version
        self.fingerprint = fingerprint
        self.engine = engine
        self.template = template
        self.created = Int(Date().timeIntervalSince1970)
        self.stopTokens = stopTokens
        self.memoryBytes = memoryBytes
    }

    /// Template variables besides the messages.
    var templateVariables: [String: TemplateValue] {
        let v = tokenizer.vocab
        return ["bos_token": .string(v.bos.map { v.tokens[$0] } ?? ""), "eos_token": .string(v.eos.map { v.tokens[$0] } ?? "")]
    }

    /// Registers one request; false once the version began draining (look it up again).
    func acquire() -> Bool {
        holds.withLock { h in
            guard !h.draining else { return false }
            h.count += 1
            return true
        }
    }

    /// Ends one request's hold.
    func release() {
        let wake = holds.withLock { h -> [CheckedContinuation<Void, Never>] in
            h.count -= 1
            guard h.count == 0, h.draining else { return [] }
            defer { h.drained = [] }
            return h.drained
        }
        for c in wake { c.resume() }
    }

    /// Refuses new requests, waits for the held ones (their sequences run to the end), then stops the engine.
    func drain() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = holds.withLock { h -> Bool in
                h.draining = true
                if h.count == 0 { return true }
                h.drained.append(c)
                return false
            }
            if now { c.resume() }
        }
        engine.shutdown()
    }

    /// Requests holding the version now.
    var holdCount: Int { holds.withLock { $0.count } }

    /// Loads a GGUF file, or an ONNX decoder (a folder or `.onnx` file with tokenizer.json, see
    /// ``ONNXDecoder``), as `name` (version `version`); `fingerprint` names its bytes.
    static func load(name: String, version: Int?, path: String, fingerprint: String, threads: Int, kvCacheBytes: Int,
                     logger: Logger) throws -> LLMServable {
        let model: any CausalLanguageModel
        let vocab: Vocabulary
        let fileBytes: Int
        var details: Logger.Metadata
        if !Self.isONNXDecoder(path) {
            let file = try GGUFFile(path: path)
            let llama = try LlamaModel(file: file, threads: threads)
            model = llama
            vocab = try Vocabulary(file: file)
            fileBytes = file.bytes.count
            details = ["format": "gguf", "architecture": "\(llama.config.architecture)", "layers": "\(llama.config.blockCount)",
                       "types": "\(llama.weightTypes.joined(separator: ","))"]
        } else {
            let loaded = try ONNXDecoder.load(path: path, threads: threads)
            let decoder = loaded.0
            model = decoder
            vocab = loaded.1
            fileBytes = loaded.fileBytes
            details = ["format": "onnx", "layers": "\(decoder.layers)"]
        }
        let tokenizer = Tokenizer(vocab: vocab)
        guard tokenizer.vocab.count == model.vocabSize else {
            throw GenerateError.tokenizer("\(tokenizer.vocab.count) tokens in the vocabulary, \(model.vocabSize) rows in the embedding")
        }
        if tokenizer.vocab.model == "gpt2" && !Tokenizer.knownPreTokenizers.contains(tokenizer.vocab.pre) {
            logger.warning("pre-tokenizer not implemented, using GPT-2's split: tokens may differ from llama.cpp's",
                           metadata: ["model": "\(name)", "pre": "\(tokenizer.vocab.pre)"])
        }
        let template = try ChatTemplate(tokenizer.vocab.chatTemplate ?? LLMModels.chatMLTemplate)
        var options = EngineOptions()
        options.kvCacheBytes = kvCacheBytes
        // Test pacing (docs/llm.md): milliseconds to pause after each engine step.
        if let ms = ProcessInfo.processInfo.environment["BERTH_LLM_STEP_DELAY_MS"].flatMap(UInt32.init), ms <= 1000 {
            options.stepDelayMicroseconds = ms * 1000
        }
        let engine = try GenerationEngine(model: model, tokenizer: tokenizer, options: options,
                                          logger: Logger(label: "berth.generate.\(name)"))
        var stops = Set(LLMModels.endOfTurn.compactMap { tokenizer.vocab.idOf[$0] }.filter { tokenizer.vocab.isControl($0) })
        if let eos = tokenizer.vocab.eos { stops.insert(eos) }
        details["model"] = "\(name)"
        details["version"] = "\(version.map(String.init) ?? "-")"
        details["vocab"] = "\(model.vocabSize)"
        details["context"] = "\(engine.maxSequenceTokens)"
        logger.notice("language model loaded", metadata: details)
        return LLMServable(name: name, version: version, fingerprint: fingerprint, engine: engine, template: template, stopTokens: stops,
                           memoryBytes: fileBytes + kvCacheBytes)
    }

    /// A folder, or a `.onnx` file that is not GGUF inside, is an ONNX decoder; anything else is read as GGUF.
    static func isONNXDecoder(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { return true }
        guard path.hasSuffix(".onnx"), let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) != Data("GGUF".utf8)
    }
}

/// One request's hold on a version: released exactly once, by the handler when the answer is
/// complete (or, as a backstop, when the last reference goes).
final class LLMLease: Sendable {
    let servable: LLMServable
    private let released = Locked(false)

    init(_ servable: LLMServable) { self.servable = servable }

    func release() {
        let first = released.withLock { r -> Bool in defer { r = true }; return !r }
        if first { servable.release() }
    }

    deinit { release() }
}
