import Foundation

/// The chosen token with its log-probability and, when asked, the top alternatives.
public struct SampledToken: Sendable, Equatable {
    public let token: Int
    /// log p(token) under the model's distribution (log-softmax of the raw logits).
    public let logprob: Float
    public let top: [(token: Int, logprob: Float)]

    public static func == (a: SampledToken, b: SampledToken) -> Bool {
        a.token == b.token && a.logprob == b.logprob && a.top.map(\.token) == b.top.map(\.token)
    }
}

/// Chooses tokens from logits: penalties, then greedy or temperature with top-k, top-p and
/// min-p filtering, drawing from a seeded generator so a seed reproduces a completion.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var rng: SplitMix64

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SplitMix64(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// Picks the next token. `prompt` and `generated` feed the penalties.
    public mutating func sample(_ logits: [Float], prompt: [Int], generated: [Int]) -> SampledToken {
        let p = parameters
        var l = logits
        if p.repetitionPenalty != 1 {
            for t in Set(prompt).union(generated) where t < l.count {
                l[t] = l[t] > 0 ? l[t] / p.repetitionPenalty : l[t] * p.repetitionPenalty
            }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            var counts: [Int: Int] = [:]
            for t in generated { counts[t, default: 0] += 1 }
            for (t, c) in counts where t < l.count { l[t] -= Float(c) * p.frequencyPenalty + p.presencePenalty }
        }
        let chosen: Int
        if p.temperature == 0 {
            chosen = argmax(l)
        } else {
            // Candidates sorted by logit, filtered, then drawn by their renormalised probability.
            var idx = Array(l.indices).sorted { l[$0] > l[$1] }
            if p.topK > 0 && p.topK < idx.count { idx.removeSubrange(p.topK...) }
            let mx = l[idx[0]]
            var probs = idx.map { expf((l[$0] - mx) / p.temperature) }
            var sum = probs.reduce(0, +)
            if p.minP > 0 {
                let keep = probs.prefix { $0 / probs[0] >= p.minP }.count
                idx.removeSubrange(max(keep, 1)...); probs.removeSubrange(max(keep, 1)...)
                sum = probs.reduce(0, +)
            }
            if p.topP < 1 {
                var acc: Float = 0, keep = 0
                for q in probs { acc += q / sum; keep += 1; if acc >= p.topP { break } }
                idx.removeSubrange(keep...); probs.removeSubrange(keep...)
                sum = probs.reduce(0, +)
            }
            let r = Float(rng.nextDouble()) * sum
            var acc: Float = 0, pick = idx[idx.count - 1]
            for (k, q) in probs.enumerated() { acc += q; if r < acc { pick = idx[k]; break } }
            chosen = pick
        }
        let lsm = logSoftmax(logits)
        var top: [(Int, Float)] = []
        if let n = p.logprobs, n > 0 {
            top = Array(logits.indices).sorted { logits[$0] > logits[$1] }.prefix(n).map { ($0, lsm[$0]) }
        }
        return SampledToken(token: chosen, logprob: lsm[chosen], top: top)
    }

    func argmax(_ l: [Float]) -> Int {
        var best = 0
        for i in 1..<l.count where l[i] > l[best] { best = i }
        return best
    }

    func logSoftmax(_ l: [Float]) -> [Float] {
        let mx = l.max() ?? 0
        var s: Double = 0
        for v in l { s += Double(expf(v - mx)) }
        let lse = mx + Float(log(s))
        return l.map { $0 - lse }
    }
}

/// SplitMix64: small, fast, and the same sequence on every platform for a seed.
struct SplitMix64: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9007199254740992.0) }
}
