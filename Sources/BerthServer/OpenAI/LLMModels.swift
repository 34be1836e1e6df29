import BerthGenerate
import Foundation
import Logging

/// One served language model: its generation engine, tokenizer and chat template.
public struct LLMServable: Sendable {
    public let name: String
    public let engine: GenerationEngine
    public let template: ChatTemplate
    /// Unix time the model was loaded (`created` in `/v1/models`).
    public let created: Int
    /// Tokens that end a turn: EOS and the end-of-turn control tokens the vocabulary has.
    public let stopTokens: Set<Int>

    public var tokenizer: Tokenizer { engine.tokenizer }
    public var contextLength: Int { engine.maxSequenceTokens }

    /// Template variables besides the messages.
    var templateVariables: [String: TemplateValue] {
        let v = tokenizer.vocab
        return ["bos_token": .string(v.bos.map { v.tokens[$0] } ?? ""), "eos_token": .string(v.eos.map { v.tokens[$0] } ?? "")]
    }
}

/// The language models a server serves (`berth serve --llm NAME=model.gguf`), by name.
public final class LLMModels: Sendable {
    public let models: [String: LLMServable]

    /// End-of-turn markers of common chat formats, used as stop tokens when the vocabulary has them.
    static let endOfTurn = ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|end_of_text|>"]
    /// Used when a GGUF file carries no `tokenizer.chat_template` (as llama.cpp does).
    static let chatMLTemplate = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

    public init(models: [String: LLMServable]) { self.models = models }

    /// Loads `NAME=PATH` specs; any bad file, template or option throws with the spec named.
    public static func load(specs: [String], threads: Int, kvCacheBytes: Int, logger: Logger) throws -> LLMModels {
        var models: [String: LLMServable] = [:]
        for spec in specs {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw GenerateError.invalidRequest("--llm '\(spec)' is not NAME=PATH") }
            let (name, path) = (parts[0], parts[1])
            guard models[name] == nil else { throw GenerateError.invalidRequest("--llm: '\(name)' is given twice") }
            do {
                let file = try GGUFFile(path: path)
                let model = try LlamaModel(file: file, threads: threads)
                let tokenizer = Tokenizer(vocab: try Vocabulary(file: file))
                guard tokenizer.vocab.count == model.vocabSize else {
                    throw GenerateError.tokenizer("\(tokenizer.vocab.count) tokens in the vocabulary, \(model.vocabSize) rows in the embedding")
                }
                if tokenizer.vocab.model == "gpt2" && !Tokenizer.knownPreTokenizers.contains(tokenizer.vocab.pre) {
                    logger.warning("pre-tokenizer not implemented, using GPT-2's split: tokens may differ from llama.cpp's",
                                   metadata: ["model": "\(name)", "pre": "\(tokenizer.vocab.pre)"])
                }
                let template = try ChatTemplate(tokenizer.vocab.chatTemplate ?? chatMLTemplate)
                var options = EngineOptions()
                options.kvCacheBytes = kvCacheBytes
                let engine = try GenerationEngine(model: model, tokenizer: tokenizer, options: options, logger: Logger(label: "berth.generate.\(name)"))
                var stops = Set(endOfTurn.compactMap { tokenizer.vocab.idOf[$0] }.filter { tokenizer.vocab.isControl($0) })
                if let eos = tokenizer.vocab.eos { stops.insert(eos) }
                models[name] = LLMServable(name: name, engine: engine, template: template,
                                           created: Int(Date().timeIntervalSince1970), stopTokens: stops)
                logger.notice("language model loaded", metadata: [
                    "model": "\(name)", "architecture": "\(model.config.architecture)", "layers": "\(model.config.blockCount)",
                    "types": "\(model.weightTypes.joined(separator: ","))", "vocab": "\(model.vocabSize)",
                    "context": "\(engine.maxSequenceTokens)",
                ])
            } catch let e as GenerateError {
                throw GenerateError.invalidRequest("--llm \(name): \(path): \(e)")
            }
        }
        return LLMModels(models: models)
    }

    /// Stops every engine's loop.
    public func shutdown() { for m in models.values { m.engine.shutdown() } }
}
