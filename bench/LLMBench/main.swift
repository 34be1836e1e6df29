// Prefill and decode tokens/s of BerthGenerate on a GGUF file, for bench/llm_vs_llamacpp.py:
//   berth-llm-bench MODEL.gguf THREADS PROMPT_TOKENS DECODE_TOKENS
// prints one JSON line {"prefill_tps", "decode_tps", "aggregate8_tps"}. Built only when asked for
// (swift build -c release --product berth-llm-bench).
import BerthGenerate
import Foundation

let args = CommandLine.arguments
guard args.count == 5, let threads = Int(args[2]), let promptLen = Int(args[3]), let decode = Int(args[4]) else {
    FileHandle.standardError.write(Data("usage: berth-llm-bench MODEL.gguf THREADS PROMPT_TOKENS DECODE_TOKENS\n".utf8))
    exit(2)
}
let file = try GGUFFile(path: args[1])
let model = try LlamaModel(file: file, threads: threads)
let prompt = [1] + (0..<(promptLen - 1)).map { (7 * $0) % 400 + 3 }

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

var bestPrefill = Double.infinity, bestDecode = Double.infinity
for _ in 0..<3 {
    let cache = try model.makeCache(budgetBytes: 256 << 20)
    try cache.reserve(0, newLength: prompt.count)
    var t = now()
    var logits = try model.forward([ForwardChunk(sequence: 0, tokens: prompt, startPosition: 0)], cache: cache)[0]!
    bestPrefill = min(bestPrefill, now() - t)
    t = now()
    var pos = prompt.count
    for _ in 0..<decode {
        let next = logits.indices.max { logits[$0] < logits[$1] }!
        try cache.reserve(0, newLength: pos + 1)
        logits = try model.forward([ForwardChunk(sequence: 0, tokens: [next], startPosition: pos)], cache: cache)[0]!
        pos += 1
    }
    bestDecode = min(bestDecode, now() - t)
}

// BERTH_LLM_BENCH_SINGLE=1: single-stream figures only (for profiling prefill and decode alone).
if ProcessInfo.processInfo.environment["BERTH_LLM_BENCH_SINGLE"] == "1" {
    print("{\"prefill_tps\": \(Double(prompt.count) / bestPrefill), \"decode_tps\": \(Double(decode) / bestDecode)}")
    exit(0)
}

// Eight sequences decoded together by direct forward passes (the engine's step without its loop).
var batchTps = 0.0
do {
    let cache = try model.makeCache(budgetBytes: 256 << 20)
    for s in 0..<8 { try cache.reserve(s, newLength: 2) }
    _ = try model.forward((0..<8).map { ForwardChunk(sequence: $0, tokens: [1, 5 + $0], startPosition: 0) }, cache: cache)
    let t = now()
    for step in 0..<decode {
        for s in 0..<8 { try cache.reserve(s, newLength: 3 + step) }
        _ = try model.forward((0..<8).map { ForwardChunk(sequence: $0, tokens: [7], startPosition: 2 + step) }, cache: cache)
    }
    batchTps = Double(8 * decode) / (now() - t)
}

// Eight concurrent greedy streams through the continuous-batching engine.
let engine = try GenerationEngine(model: model, tokenizer: Tokenizer(vocab: try Vocabulary(file: file)))
let greedy: SamplingParameters = { var p = SamplingParameters(); p.temperature = 0; return p }()
let t0 = now()
let total = await withTaskGroup(of: Int.self) { group in
    for i in 0..<8 {
        group.addTask {
            var n = 0
            for await ev in engine.generate(GenerationRequest(prompt: [1, 5 + i], maxTokens: decode, sampling: greedy)) {
                if case .token = ev { n += 1 }
            }
            return n
        }
    }
    var s = 0
    for await n in group { s += n }
    return s
}
let aggregate = Double(total) / (now() - t0)

// Time to first token of a prompt whose first 7/8 were seen before (prefix cache) vs a new one.
func ttft(_ prompt: [Int]) async -> Double {
    let t = now()
    for await ev in engine.generate(GenerationRequest(prompt: prompt, maxTokens: 1, sampling: greedy)) {
        if case .token = ev { return now() - t }
    }
    return .nan
}
let shared = (0..<(promptLen * 7 / 8)).map { (11 * $0) % 400 + 3 }
var coldBest = Double.infinity, warmBest = Double.infinity
for k in 0..<3 {
    coldBest = min(coldBest, await ttft([1] + (0..<(promptLen - 1)).map { (13 * $0 + 17 * k + 1) % 400 + 3 }))
    _ = await ttft([1] + shared + [5 + k])
    warmBest = min(warmBest, await ttft([1] + shared + (0..<(promptLen - shared.count - 1)).map { ($0 + 9 * k) % 400 + 3 }))
}
engine.shutdown()
print("{\"prefill_tps\": \(Double(promptLen) / bestPrefill), \"decode_tps\": \(Double(decode) / bestDecode), \"aggregate8_tps\": \(aggregate), \"batch8_forward_tps\": \(batchTps), \"ttft_cold_s\": \(coldBest), \"ttft_prefix_cached_s\": \(warmBest)}")
