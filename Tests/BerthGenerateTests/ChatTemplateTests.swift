import Foundation
import XCTest
@testable import BerthGenerate

/// Chat templates against jinja2 (scripts/make_llama_reference.py renders the fixtures' templates
/// and Llama 2 / Llama 3 / ChatML-with-whitespace-control ones the way Hugging Face does).
final class ChatTemplateTests: XCTestCase {
    struct Case: Decodable {
        struct M: Decodable { let role: String; let content: String }
        let template: String
        let source: String
        let messages: [M]
        let addGenerationPrompt: Bool
        let text: String?
        let error: String?
        enum CodingKeys: String, CodingKey { case template, source, messages, text, error, addGenerationPrompt = "add_generation_prompt" }
    }

    func testRendersLikeJinja2() throws {
        let data = try Data(contentsOf: Fixtures.directory.appendingPathComponent("chat_templates.reference.json"))
        let cases = try JSONDecoder().decode([Case].self, from: data)
        XCTAssertTrue(cases.count >= 8)
        for c in cases {
            let t = try ChatTemplate(c.source)
            let messages = c.messages.map { ChatMessage(role: $0.role, content: $0.content) }
            let extra: [String: TemplateValue] = ["bos_token": .string("<s>"), "eos_token": .string("</s>")]
            if let text = c.text {
                XCTAssertTrue(try t.render(messages: messages, addGenerationPrompt: c.addGenerationPrompt, extra: extra) == text, "\(c.template)")
            } else {
                expectThrows(GenerateError.template(c.error ?? "")) {
                    try t.render(messages: messages, addGenerationPrompt: c.addGenerationPrompt, extra: extra)
                }
            }
        }
    }

    func testUnsupportedConstructsAreNamed() {
        expectThrows(GenerateError.template("unsupported statement {% macro %}")) { try ChatTemplate("{% macro f() %}x{% endmacro %}") }
        expectThrows(GenerateError.self) { try ChatTemplate("{{ messages | frobnicate }}").render(messages: [], addGenerationPrompt: false) }
        expectThrows(GenerateError.self) { try ChatTemplate("{% if x %}unclosed") }
    }
}
