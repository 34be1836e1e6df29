import BerthONNX
import BerthTensor
import Foundation

/// A compiled regular expression shared by the runs of one kernel. NSRegularExpression is
/// immutable after creation and documented as safe to use from several threads.
private final class TokenizerPattern: @unchecked Sendable {
    let regex: NSRegularExpression
    init(_ pattern: String, what: String) throws {
        do { regex = try NSRegularExpression(pattern: pattern) } catch {
            throw KernelError("Tokenizer cannot compile \(what) '\(pattern)': \(error)")
        }
    }

    /// Matches in `text` from UTF-16 offset `from`, as (location, length) in UTF-16 units.
    func firstMatch(in text: NSString, from: Int) -> NSRange? {
        let r = regex.rangeOfFirstMatch(in: text as String, options: [], range: NSRange(location: from, length: text.length - from))
        return r.location == NSNotFound ? nil : r
    }
}

extension KernelRegistry {
    /// Tokenizer (com.microsoft; skl2onnx's text pipelines): splits each string of X ([C] or
    /// [N, C]) by `separators` (regular expressions applied one after the other to the pieces
    /// the previous ones left; [""] splits into characters) or extracts the matches of
    /// `tokenexp` ("." for characters). Tokens shorter than `mincharnum` characters are dropped.
    /// Output X's shape + [T]: each row's tokens, framed by "\u{2}" … "\u{3}" when `mark`, then
    /// `pad_value` up to the longest row, as ONNX Runtime's CPU kernel lays them out. Patterns use
    /// ICU's leftmost-first matching where ORT's RE2 uses leftmost-longest; they agree unless
    /// an alternation has a branch that is a prefix of a later one.
    mutating func registerContribTokenizer() {
        register("Tokenizer", domain: ContribOps.domain, opsets: ContribOps.opsets) { node, _ in
            let mark = try node.int("mark") != 0
            let pad = try node.string("pad_value", default: "")
            guard node.attributes["pad_value"] != nil else { throw KernelError("Tokenizer needs the attribute 'pad_value'") }
            let minChars = try node.int("mincharnum")
            guard minChars > 0 else { throw KernelError("Tokenizer mincharnum must be positive, got \(minChars)") }
            var separators: [TokenizerPattern] = [], expression: TokenizerPattern?, characters = false
            if case let .strings(seps)? = node.attributes["separators"] {
                guard !seps.isEmpty else { throw KernelError("Tokenizer separators must not be empty") }
                if seps == [""] { characters = true } else { separators = try seps.map { try TokenizerPattern($0, what: "separator") } }
            } else {
                let exp = try node.string("tokenexp", default: "")
                guard !exp.isEmpty else { throw KernelError("Tokenizer needs separators or a non-empty tokenexp") }
                if exp == "." { characters = true } else { expression = try TokenizerPattern(exp, what: "tokenexp") }
            }
            guard !characters || minChars < 2 else { throw KernelError("Tokenizer mincharnum \(minChars) is too big for character tokenization") }
            return { inputs, _ in
                let x = try inputs.required(0)
                guard case let .string(strings) = x.storage else { throw KernelError("Tokenizer input must be strings, got \(x.dtype)") }
                guard x.rank == 1 || x.rank == 2 else { throw KernelError("Tokenizer input must be [C] or [N, C], got shape \(x.shape)") }
                let rows: [[String]] = strings.map { s in
                    if characters { return s.unicodeScalars.map { String($0) } }
                    if let expression { return tokenizerMatches(s, expression, minChars: minChars) }
                    return tokenizerSplit(s, separators, minChars: minChars)
                }
                let longest = rows.map(\.count).max() ?? 0
                guard longest > 0 else { return [Tensor(unchecked: x.shape + [0], storage: .string([]))] }
                let width = longest + (mark ? 2 : 0)
                let count = try TensorFamily.count(x.shape + [width])
                var out: [String] = []
                out.reserveCapacity(count)
                for row in rows {
                    if mark { out.append("\u{2}") }
                    out.append(contentsOf: row)
                    if mark { out.append("\u{3}") }
                    out.append(contentsOf: repeatElement(pad, count: longest - row.count))
                }
                return [Tensor(unchecked: x.shape + [width], storage: .string(out))]
            }
        }
    }
}

/// UTF-16 units of the Unicode scalar at `i` (2 for a surrogate pair), the step ORT takes past
/// an empty or too-short match.
private func tokenizerScalarLength(_ s: NSString, at i: Int) -> Int {
    i < s.length && UTF16.isLeadSurrogate(s.character(at: i)) && i + 1 < s.length ? 2 : 1
}

/// The number of Unicode scalars (ORT counts UTF-8 characters) in `s`.
private func tokenizerChars(_ s: NSString, _ range: NSRange) -> Int {
    s.substring(with: range).unicodeScalars.count
}

/// Separator mode: each separator in turn splits every piece left by the previous ones.
private func tokenizerSplit(_ s: String, _ separators: [TokenizerPattern], minChars: Int) -> [String] {
    var row = [s]
    for sep in separators {
        var tokens: [String] = []
        for piece in row {
            let text = piece as NSString
            var start = 0
            while let m = sep.firstMatch(in: text, from: start) {
                let token = NSRange(location: start, length: m.location - start)
                if tokenizerChars(text, token) >= minChars { tokens.append(text.substring(with: token)) }
                // An empty match advances by one character so the scan always progresses.
                start = m.length > 0 ? m.location + m.length : m.location + tokenizerScalarLength(text, at: m.location)
                if start >= text.length { break }
            }
            if start < text.length {
                let trailing = NSRange(location: start, length: text.length - start)
                if tokenizerChars(text, trailing) >= minChars { tokens.append(text.substring(with: trailing)) }
            }
        }
        if tokens.isEmpty { return [] }
        row = tokens
    }
    return row
}

/// Token-expression mode: the matches of `exp` at least `minChars` long; a shorter match
/// moves the scan one character on from where it started.
private func tokenizerMatches(_ s: String, _ exp: TokenizerPattern, minChars: Int) -> [String] {
    let text = s as NSString
    guard s.unicodeScalars.count >= minChars else { return [] }
    var tokens: [String] = []
    var start = 0
    while start <= text.length, let m = exp.firstMatch(in: text, from: start) {
        if m.length > 0, tokenizerChars(text, m) >= minChars {
            tokens.append(text.substring(with: m))
            start = m.location + m.length
        } else {
            guard m.location < text.length else { break }
            start = m.location + tokenizerScalarLength(text, at: m.location)
        }
    }
    return tokens
}
