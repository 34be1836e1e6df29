import Foundation
import XCTest
@testable import BerthGenerate

/// The continuous-batching engine: batched sequences give what each gives alone, seeds
/// reproduce, stop strings cut, cancellation returns the KV cache blocks.
final class GenerationEngineTests: XCTestCase {
    func engine(_ name: String = "llama_q8_q4", budget: Int = 4 << 20) throws -> GenerationEngine {
        let (model, tok) = try Fixtures.load(name)
        var o = EngineOptions()
        o.kvCacheBytes = budget
        o.maxBatchTokens = 8  // small, so prompts prefill in several chunks beside other sequences' decodes
        return try GenerationEngine(model: model, tokenizer: tok, options: o)
    }

    static func run(_ e: GenerationEngine, _ r: GenerationRequest) async -> ([Int], String, GenerationSummary?) {
        var toks: [Int] = [], text = "", summary: GenerationSummary?
        for await ev in e.generate(r) {
            switch ev {
            case .token(let t): toks.append(t.token); text += t.text
            case .finished(let s): summary = s; text += s.trailingText
            case .failed(let err): XCTFail("failed: \(err)")
            }
        }
        return (toks, text, summary)
    }

    /// The reference: one sequence, whole prompt, direct forward passes.
    func greedyAlone(_ model: LlamaModel, _ prompt: [Int], steps: Int) throws -> [Int] {
        let cache = try model.makeCache(budgetBytes: 4 << 20)
        try cache.reserve(0, newLength: prompt.count)
        var logits = try model.forward([ForwardChunk(sequence: 0, tokens: prompt, startPosition: 0)], cache: cache)[0]!
        var out: [Int] = []
        for _ in 0..<steps {
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            out.append(next)
            try cache.reserve(0, newLength: prompt.count + out.count)
            logits = try model.forward([ForwardChunk(sequence: 0, tokens: [next], startPosition: prompt.count + out.count - 1)], cache: cache)[0]!
        }
        return out
    }

    func testConcurrentSequencesMatchSequentialOnes() async throws {
        let e = try engine()
        let prompts = ["The capital of France is", "Hello world! Berth serves models", "1 2 3 4 5", "What is the capital of France? The capital"]
            .map { e.tokenizer.encode($0) }
        var greedy = SamplingParameters()
        greedy.temperature = 0
        let sampling = greedy
        let results = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (i, p) in prompts.enumerated() {
                group.addTask { (i, await Self.run(e, GenerationRequest(prompt: p, maxTokens: 12, sampling: sampling)).0) }
            }
            var r = [[Int]](repeating: [], count: prompts.count)
            for await (i, t) in group { r[i] = t }
            return r
        }
        for (i, p) in prompts.enumerated() {
            XCTAssertTrue(results[i] == (try greedyAlone(e.model as! LlamaModel, p, steps: 12)), "prompt \(i)")
        }
        XCTAssertTrue(e.cache.freeBlocks == e.cache.blockCount)
        e.shutdown()
    }

    func testSameSeedSameTokens() async throws {
        let e = try engine()
        var p = SamplingParameters()
        p.temperature = 0.9; p.topK = 50; p.topP = 0.95; p.seed = 1234
        let prompt = e.tokenizer.encode("The quick brown fox")
        let a = await Self.run(e, GenerationRequest(prompt: prompt, maxTokens: 16, sampling: p)).0
        let b = await Self.run(e, GenerationRequest(prompt: prompt, maxTokens: 16, sampling: p)).0
        p.seed = 99
        let c = await Self.run(e, GenerationRequest(prompt: prompt, maxTokens: 16, sampling: p)).0
        XCTAssertTrue(a == b)
        XCTAssertTrue(a != c)
        e.shutdown()
    }

    func testStopStringCutsTheText() async throws {
        let e = try engine()
        var greedy = SamplingParameters()
        greedy.temperature = 0
        let prompt = e.tokenizer.encode("Hello")
        let (_, full, _) = await Self.run(e, GenerationRequest(prompt: prompt, maxTokens: 24, sampling: greedy))
        // Stop at a piece of the greedy text itself (two ASCII letters, not a replacement character
        // of a random byte): the answer is what came before it.
        let chars = Array(full)
        let at = try XCTUnwrap((1..<max(1, chars.count - 1)).first { chars[$0].isASCII && chars[$0].isLetter && chars[$0 + 1].isASCII && chars[$0 + 1].isLetter },
                               "no ASCII pair in \(full.debugDescription)")
        let stop = String(chars[at...(at + 1)])
        let expected = String(full[..<full.range(of: stop)!.lowerBound])
        let (_, cut, s) = await Self.run(e, GenerationRequest(prompt: prompt, maxTokens: 24, sampling: greedy, stopStrings: [stop]))
        XCTAssertTrue(cut == expected)
        XCTAssertTrue(s?.reason == .stop)
        e.shutdown()
    }

    func testCancellingFreesTheBlocks() async throws {
        let e = try engine()
        let stream = e.generate(GenerationRequest(prompt: e.tokenizer.encode("The capital of France is"), maxTokens: 200))
        var n = 0
        for await ev in stream { if case .token = ev { n += 1; if n == 3 { break } } }
        // The loop frees the blocks at its next step.
        for _ in 0..<200 where e.cache.freeBlocks != e.cache.blockCount { try await Task.sleep(for: .milliseconds(10)) }
        XCTAssertTrue(e.cache.freeBlocks == e.cache.blockCount)
        e.shutdown()
    }

    func testPrefixCacheReusesBlocksAndKeepsTheAnswer() async throws {
        let e = try engine()
        var greedy = SamplingParameters()
        greedy.temperature = 0
        // 40 tokens: two whole 16-token blocks can be shared, the rest is computed.
        let prompt = [1] + (0..<39).map { ($0 * 7) % 300 + 3 }
        let first = await Self.run(e, GenerationRequest(prompt: prompt, maxTokens: 8, sampling: greedy)).0
        XCTAssertEqual(e.cache.prefixHits, 0)
        let second = await Self.run(e, GenerationRequest(prompt: prompt, maxTokens: 8, sampling: greedy)).0
        XCTAssertEqual(e.cache.prefixHits, 2)
        // A prompt sharing only the first block reuses one block.
        var other = prompt
        other[20] = 4
        let third = await Self.run(e, GenerationRequest(prompt: other, maxTokens: 8, sampling: greedy)).0
        XCTAssertEqual(e.cache.prefixHits, 3)
        let reference = try greedyAlone(e.model as! LlamaModel, prompt, steps: 8)
        XCTAssertEqual(first, reference)
        XCTAssertEqual(second, reference)
        XCTAssertEqual(third, try greedyAlone(e.model as! LlamaModel, other, steps: 8))
        XCTAssertEqual(e.cache.freeBlocks, e.cache.blockCount)
        e.shutdown()
    }

    func testPromptLongerThanContextFails() async throws {
        let e = try engine()
        var failed = false
        for await ev in e.generate(GenerationRequest(prompt: Array(repeating: 5, count: 300), maxTokens: 1)) {
            if case .failed = ev { failed = true }
        }
        XCTAssertTrue(failed)
        e.shutdown()
    }
}
