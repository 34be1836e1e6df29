import BerthGenerate
import BerthRegistry
import Foundation
import HTTPTypes
import Logging

/// The language models a server serves through the OpenAI routes, by name: the fixed ones of
/// `berth serve --llm NAME=model.gguf`, and registry models whose versions are GGUF files
/// (deployed by the ``RegistryDeployer`` with their production alias, canary and shadow, see
/// `LLMModels+Deploy.swift`). All of them count against one memory budget.
public final class LLMModels: Sendable {
    /// A registry language model: its loaded versions and how requests are spread over them.
    struct Registered: Sendable {
        var versions: [Int: LLMServable]
        var route: TrafficRoute
    }

    /// The `--llm` models (never unloaded).
    let fixed: [String: LLMServable]
    let registered = Locked<[String: Registered]>([:])
    /// Resolves `name@alias` requests (set by the deployer that deploys the registry's versions).
    let registry = Locked<(any Registry)?>(nil)
    /// Bytes of every live version, serving or draining (`--llm-memory-budget` compares against it).
    let residentBytes: Locked<Int>
    /// nil: no budget.
    public let memoryBudget: Int?
    let threads: Int
    let kvCacheBytes: Int
    let logger: Logger

    /// End-of-turn markers of common chat formats, used as stop tokens when the vocabulary has them.
    static let endOfTurn = ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|end_of_text|>"]
    /// Used when a GGUF file carries no `tokenizer.chat_template` (as llama.cpp does).
    static let chatMLTemplate = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

    /// - Parameters:
    ///   - memoryBudget: bytes all loaded versions may take together (mapped file + KV cache each); nil: unbounded.
    ///   - threads, kvCacheBytes: for the registry versions loaded later.
    public init(fixed: [String: LLMServable] = [:], memoryBudget: Int? = nil, threads: Int = 1, kvCacheBytes: Int = 256 << 20,
                logger: Logger = Logger(label: "berth.server.llm")) {
        self.fixed = fixed
        self.memoryBudget = memoryBudget
        self.threads = max(1, threads)
        self.kvCacheBytes = kvCacheBytes
        self.logger = logger
        residentBytes = Locked(fixed.values.reduce(0) { $0 + $1.memoryBytes })
    }

    /// Loads `NAME=PATH` specs; any bad file, template or option, or files over `memoryBudget`, throws with the spec named.
    public static func load(specs: [String], threads: Int, kvCacheBytes: Int, memoryBudget: Int? = nil, logger: Logger) throws -> LLMModels {
        var models: [String: LLMServable] = [:]
        var total = 0
        for spec in specs {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw GenerateError.invalidRequest("--llm '\(spec)' is not NAME=PATH") }
            let (name, path) = (parts[0], parts[1])
            guard models[name] == nil else { throw GenerateError.invalidRequest("--llm: '\(name)' is given twice") }
            do {
                let m = try LLMServable.load(name: name, version: nil, path: path, fingerprint: path, threads: threads,
                                             kvCacheBytes: kvCacheBytes, logger: logger)
                total += m.memoryBytes
                if let memoryBudget, total > memoryBudget {
                    m.engine.shutdown()
                    for other in models.values { other.engine.shutdown() }
                    throw GenerateError.invalidRequest("the --llm models need \(mib(total)) MiB (mapped files + KV caches), over the --llm-memory-budget of \(mib(memoryBudget)) MiB")
                }
                models[name] = m
            } catch {
                throw GenerateError.invalidRequest("--llm \(name): \(path): \(error)")
            }
        }
        return LLMModels(fixed: models, memoryBudget: memoryBudget, threads: threads, kvCacheBytes: kvCacheBytes, logger: logger)
    }

    static func mib(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }

    // MARK: Request path

    /// A request's versions: the one that answers and the shadow that gets a copy, both held.
    struct Routed {
        let lease: LLMLease
        let shadow: LLMLease?
        /// Which side of a registry model's split answered (nil for a `--llm` model).
        var side: TrafficRoute.Side? = nil
    }

    /// The model name `requested` refers to (`chat@3` → `chat`), for access checks.
    func baseName(_ requested: String) -> String {
        if fixed[requested] != nil { return requested }
        return VersionRef.parse(requested).model
    }

    /// The version `ref` names, as the registry CLI reads `NAME@REF`: a number, or an alias.
    private func resolve(_ name: String, _ ref: VersionRef) throws -> Int {
        switch ref {
        case let .number(v): return v
        case let .alias(a):
            guard let registry = registry.withLock({ $0 }) else { throw OpenAIError.modelNotFound("\(name)@\(a)") }
            do { return try registry.version(name, .alias(a)).version } catch {
                throw OpenAIError(status: .notFound, message: "\(error)", type: "invalid_request_error", param: "model", code: "model_not_found")
            }
        }
    }

    /// Holds the version that answers `requested`: a `--llm` model; a registry model's production
    /// or canary (sticky by `key`, the `x-berth-routing-key` header) with its shadow; or, as
    /// `name@N` / `name@alias` (the registry CLI's addressing), that version while it is loaded
    /// (being aliased keeps it loaded).
    func acquire(_ requested: String, key: String?) throws -> Routed {
        if let m = fixed[requested] {
            guard m.acquire() else { throw OpenAIError(status: .serviceUnavailable, message: "the model '\(requested)' is shutting down", type: "server_error", param: nil, code: nil) }
            return Routed(lease: LLMLease(m), shadow: nil)
        }
        for _ in 0..<100 {
            let snapshot = registered.withLock { $0 }
            let pick: (version: Int, entry: Registered, shadow: Int?, side: TrafficRoute.Side)
            if let entry = snapshot[requested] {
                guard let p = entry.route.pick(key: key) else {
                    throw OpenAIError(status: .serviceUnavailable, message: "the model '\(requested)' has no production version", type: "server_error", param: nil, code: nil)
                }
                pick = (p.version, entry, entry.route.mirror(key: key), p.side)
            } else if case let (name, ref?) = VersionRef.parse(requested), let entry = snapshot[name] {
                let v = try resolve(name, ref)
                guard entry.versions[v] != nil else {
                    throw OpenAIError(status: .notFound, message: "version \(v) of '\(name)' is not deployed (only aliased versions are)",
                                      type: "invalid_request_error", param: "model", code: "model_not_found")
                }
                pick = (v, entry, nil, .version)
            } else {
                throw OpenAIError.modelNotFound(requested)
            }
            guard let s = pick.entry.versions[pick.version], s.acquire() else { continue }  // draining: the table changed, look again
            let shadow = pick.shadow.flatMap { pick.entry.versions[$0] }.flatMap { $0.acquire() ? LLMLease($0) : nil }
            return Routed(lease: LLMLease(s), shadow: shadow, side: pick.side)
        }
        throw OpenAIError(status: .serviceUnavailable, message: "the model '\(requested)' keeps changing", type: "server_error", param: nil, code: nil)
    }

    /// What `/v1/models` lists: every `--llm` model and every registry model with a production version.
    var listed: [LLMServable] {
        var out = Array(fixed.values)
        for (_, entry) in registered.withLock({ $0 }) {
            if let p = entry.route.primary, let s = entry.versions[p] { out.append(s) }
        }
        return out.sorted { $0.name < $1.name }
    }

    /// Stops every engine's loop.
    public func shutdown() {
        for m in fixed.values { m.engine.shutdown() }
        for (_, entry) in registered.withLock({ $0 }) { for s in entry.versions.values { s.engine.shutdown() } }
    }
}
