import BerthGenerate
import BerthEngine
import Foundation

/// `berth perf model.gguf`: single-sequence prefill and decode speed of a language model in
/// process (the forward pass and the paged KV cache, without the server or sampling), like
/// llama.cpp's `llama-bench` pp / tg tests.
extension PerfCommand {
    static func isGGUF(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    func measureLanguageModel() throws {
        guard promptTokens > 0, decodeTokens >= 0, runs > 0 else { throw CLIError("--prompt-tokens and --runs must be positive, --decode-tokens not negative") }
        let file = try GGUFFile(path: model)
        let llama = try LlamaModel(file: file, threads: threads)
        let total = promptTokens + decodeTokens
        guard total <= llama.config.contextLength else {
            throw CLIError("--prompt-tokens + --decode-tokens = \(total) exceeds the model's \(llama.config.contextLength)-token context")
        }
        let blockSize = 16
        let perToken = llama.config.blockCount * 2 * llama.kvDim * MemoryLayout<Float>.size
        let cache = try llama.makeCache(budgetBytes: perToken * (total + blockSize), blockSize: blockSize)
        var rng = SplitMix64(seed: 42)
        let prompt = (0..<promptTokens).map { _ in Int(rng.next(below: llama.vocabSize)) }
        for _ in 0..<warmup.clamped(0, 1) { _ = try run(llama, cache, prompt, decode: min(decodeTokens, 4), seq: -1) }
        var prefill: [Double] = [], decode: [Double] = []
        for r in 0..<runs {
            let (p, d) = try run(llama, cache, prompt, decode: decodeTokens, seq: r)
            prefill.append(Double(promptTokens) / p)
            if decodeTokens > 0 { decode.append(Double(decodeTokens) / d) }
        }
        func median(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.sorted()[v.count / 2] }
        let (pp, tg) = (median(prefill), median(decode))
        if json {
            print(String(format: "{\"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f, \"prompt_tokens\": %d, \"decode_tokens\": %d, \"threads\": %d, \"runs\": %d}",
                         pp, tg, promptTokens, decodeTokens, threads, runs))
        } else {
            print("model \(model)  \(llama.config.architecture), \(llama.config.blockCount) layers, \(llama.weightTypes.joined(separator: "/"))  threads \(threads)  runs \(runs)")
            print(String(format: "prefill %d tokens: %.1f tokens/s   decode %d tokens: %.1f tokens/s (medians)", promptTokens, pp, decodeTokens, tg))
        }
    }

    /// One sequence: the prompt as one chunk, then `decode` greedy tokens one by one; seconds of each phase.
    private func run(_ llama: LlamaModel, _ cache: PagedKVCache, _ prompt: [Int], decode: Int, seq: Int) throws -> (Double, Double) {
        defer { cache.release(seq) }
        try cache.reserve(seq, newLength: prompt.count)
        let t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try llama.forward([ForwardChunk(sequence: seq, tokens: prompt, startPosition: 0)], cache: cache)[0] ?? []
        let t1 = DispatchTime.now().uptimeNanoseconds
        for i in 0..<decode {
            let next = logits.indices.max { logits[$0] < logits[$1] } ?? 0
            try cache.reserve(seq, newLength: prompt.count + i + 1)
            logits = try llama.forward([ForwardChunk(sequence: seq, tokens: [next], startPosition: prompt.count + i)], cache: cache)[0] ?? []
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        return (Double(t1 - t0) / 1e9, Double(max(t2 - t1, 1)) / 1e9)
    }
}

private extension Int {
    func clamped(_ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(self, lo), hi) }
}
