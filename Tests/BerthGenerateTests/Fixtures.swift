import Foundation
@testable import BerthGenerate

/// The GGUF fixtures of scripts/make_gguf_fixtures.py and llama.cpp's answers on them
/// (scripts/make_llama_reference.py), committed under tests/python/fixtures/gguf.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../tests/python/fixtures/gguf").standardized

    static let models = ["llama_float", "llama_q8_q4", "llama_kquant", "qwen2_q8", "qwen2_pre_qwen2", "llama3_pre_llama3", "smollm_pre_smollm"]

    static func path(_ name: String) -> String { directory.appendingPathComponent(name + ".gguf").path }

    struct Reference: Decodable {
        struct Tokenized: Decodable { let text: String; let special: Bool; let tokens: [Int] }
        let prompt: String
        let promptTokens: [Int]
        let tokenize: [Tokenized]
        let greedy: [Int]
        let logits: [[Float]]
        let detokenize: String
        enum CodingKeys: String, CodingKey { case prompt, tokenize, greedy, logits, detokenize, promptTokens = "prompt_tokens" }
    }

    static func reference(_ name: String) throws -> Reference {
        let data = try Data(contentsOf: directory.appendingPathComponent(name + ".reference.json"))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    static func load(_ name: String, threads: Int = 2) throws -> (LlamaModel, Tokenizer) {
        let file = try GGUFFile(path: path(name))
        return (try LlamaModel(file: file, threads: threads), Tokenizer(vocab: try Vocabulary(file: file)))
    }
}

import XCTest

/// Fails unless `body` throws an error of type `E`.
func expectThrows<E: Error>(_ type: E.Type, _ message: String = "", file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do { try body(); XCTFail("no error thrown \(message)", file: file, line: line) } catch is E {} catch {
        XCTFail("unexpected error \(error) \(message)", file: file, line: line)
    }
}

/// Fails unless `body` throws exactly `expected`.
func expectThrows<E: Error & Equatable>(_ expected: E, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do { try body(); XCTFail("no error thrown, expected \(expected)", file: file, line: line) } catch let e as E {
        XCTAssertEqual(e, expected, file: file, line: line)
    } catch { XCTFail("unexpected error \(error)", file: file, line: line) }
}
