/// A chat message as the template sees it.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// The model's `tokenizer.chat_template`, compiled once: a Jinja subset big enough for the
/// templates real models carry (ChatML, Llama 2/3, Mistral, Qwen, SmolLM): `for` (with `loop.*`),
/// `if`/`elif`/`else`, `set`, expressions with `+ - * / % ~`, comparisons, `and`/`or`/`not`,
/// `in`, `is defined`/`none`/`string`, subscripts and slices, `x if c else y`, filters
/// (`trim`, `length`, `upper`, `lower`, `tojson`, `first`, `last`, `string`), string methods
/// (`strip`, `lstrip`, `rstrip`, `upper`, `lower`, `startswith`, `endswith`, `split`, `title`,
/// `replace`) and `raise_exception`. Anything else fails at compile time with the construct named.
public struct ChatTemplate: Sendable {
    let nodes: [TemplateNode]
    public let source: String

    public init(_ source: String) throws {
        self.source = source
        var parser = try TemplateParser(source)
        nodes = try parser.parseAll()
    }

    /// Renders the conversation; `extra` adds variables (`bos_token` …).
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, extra: [String: TemplateValue] = [:]) throws -> String {
        var vars = extra
        vars["messages"] = .array(messages.map { .dict(["role": .string($0.role), "content": .string($0.content)]) })
        vars["add_generation_prompt"] = .bool(addGenerationPrompt)
        var ev = TemplateEvaluator(scopes: [vars])
        var out = ""
        try ev.run(nodes, into: &out)
        return out
    }
}
