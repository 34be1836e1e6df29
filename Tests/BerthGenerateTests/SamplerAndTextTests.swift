import XCTest
@testable import BerthGenerate

/// The sampler's filters and penalties, and how token bytes become streamed text.
final class SamplerAndTextTests: XCTestCase {
    let logits: [Float] = [1.0, 3.0, 2.0, 0.5, 2.9]

    func testGreedyAndTopKOnePickTheArgmax() {
        var p = SamplingParameters()
        p.temperature = 0
        var s = Sampler(p)
        XCTAssertEqual(s.sample(logits, prompt: [], generated: []).token, 1)
        p.temperature = 1; p.topK = 1; p.seed = 3
        s = Sampler(p)
        for _ in 0..<20 { XCTAssertEqual(s.sample(logits, prompt: [], generated: []).token, 1) }
    }

    func testMinPAndTopPKeepOnlyTheLikelyTokens() {
        var p = SamplingParameters()
        p.seed = 1
        p.minP = 0.5  // keeps tokens with p ≥ 0.5 · p(max): 1 (3.0), 4 (2.9), 2 (2.0 → e^-1 ≈ 0.37: dropped)
        var s = Sampler(p)
        let seen = Set((0..<200).map { _ in s.sample(logits, prompt: [], generated: []).token })
        XCTAssertEqual(seen, [1, 4])
        p.minP = 0; p.topP = 0.5  // token 1 alone has p ≈ 0.40 < 0.5, with 4 it passes
        s = Sampler(p)
        XCTAssertEqual(Set((0..<200).map { _ in s.sample(logits, prompt: [], generated: []).token }), [1, 4])
    }

    func testPenaltiesMoveTheArgmax() {
        var p = SamplingParameters()
        p.temperature = 0
        p.frequencyPenalty = 0.2  // token 1 generated once: 3.0 - 0.2 = 2.8 < 2.9
        var s = Sampler(p)
        XCTAssertEqual(s.sample(logits, prompt: [], generated: [1]).token, 4)
        p.frequencyPenalty = 0; p.repetitionPenalty = 1.1  // 3.0 / 1.1 < 2.9
        s = Sampler(p)
        XCTAssertEqual(s.sample(logits, prompt: [1], generated: []).token, 4)
    }

    func testLogprobsAreLogSoftmax() {
        var p = SamplingParameters()
        p.temperature = 0; p.logprobs = 2
        var s = Sampler(p)
        let r = s.sample(logits, prompt: [], generated: [])
        let z = logits.map { exp(Double($0)) }.reduce(0, +)
        XCTAssertEqual(Double(r.logprob), log(exp(3.0) / z), accuracy: 1e-5)
        XCTAssertEqual(r.top.map(\.token), [1, 4])
    }

    func testTextWaitsForWholeCharactersAndCutsAtStopStrings() {
        var t = StreamingText()
        let e = Array("é".utf8)  // two bytes arriving in two tokens
        XCTAssertEqual(t.append([e[0]], stops: []).0, "")
        XCTAssertEqual(t.append([e[1]], stops: []).0, "é")
        var u = StreamingText()
        // "END" split over tokens: "ab" is sent, "E" held back, then "ND" completes the stop.
        XCTAssertEqual(u.append(Array("abE".utf8), stops: ["END"]).0, "ab")
        let (delta, stopped) = u.append(Array("ND tail".utf8), stops: ["END"])
        XCTAssertEqual(delta, "")
        XCTAssertTrue(stopped)
        var v = StreamingText()
        XCTAssertEqual(v.append(Array("xE".utf8), stops: ["END"]).0, "x")
        XCTAssertEqual(v.append(Array("Ny".utf8), stops: ["END"]).0, "ENy")  // not a stop after all
        XCTAssertEqual(v.flush(), "")
    }
}
