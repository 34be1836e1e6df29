/// Text ↔ token ids for a GGUF vocabulary, following llama.cpp: SentencePiece (`llama`: score-
/// ordered bigram merges, byte fallback `<0xXX>`, `▁` for spaces) or GPT-2 byte-level BPE
/// (`gpt2`: the GPT-2 pre-tokenizer split, rank-ordered merges). Special tokens in the text are
/// recognised when asked (`parseSpecial`), as llama.cpp's `parse_special`.
public struct Tokenizer: Sendable {
    public let vocab: Vocabulary
    /// Control and user-defined tokens, longest first, for splitting text on them.
    private let specials: [(text: [UInt8], id: Int, control: Bool)]
    private let byteToUnicode: [Character]
    private let unicodeToByte: [Character: UInt8]

    /// `tokenizer.ggml.pre` values with their own split; any other BPE vocabulary gets GPT-2's.
    public static let knownPreTokenizers: Set<String> = [
        "default", "gpt2", "gpt-2", "llama3", "llama-v3", "llama-bpe", "smaug-bpe", "qwen2", "deepseek-r1-qwen", "smollm",
    ]

    public init(vocab: Vocabulary) {
        self.vocab = vocab
        specials = vocab.tokens.indices
            .filter { (vocab.types[$0] == .control || vocab.types[$0] == .userDefined) && !vocab.tokens[$0].isEmpty }
            .map { (Array(vocab.tokens[$0].utf8), $0, vocab.types[$0] == .control) }
            .sorted { $0.text.count > $1.text.count }
        let b2u = Self.bytesToUnicode()
        byteToUnicode = b2u
        var u2b: [Character: UInt8] = [:]
        for (b, c) in b2u.enumerated() { u2b[c] = UInt8(b) }
        unicodeToByte = u2b
    }

    /// Token ids of `text`; `addSpecial` adds BOS (and EOS) as the vocabulary says.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int] {
        var out: [Int] = []
        if addSpecial, vocab.addBOS, let bos = vocab.bos { out.append(bos) }
        var prevSpecial = true
        for fragment in partition(Array(text.utf8), parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                out.append(id)
                prevSpecial = true
            case .text(let bytes):
                if vocab.model == "llama" {
                    var s = String(decoding: bytes, as: UTF8.self)
                    if vocab.addSpacePrefix && prevSpecial { s = " " + s }
                    spm(s.replacingOccurrences(" ", "\u{2581}"), into: &out)
                } else {
                    let text = String(decoding: bytes, as: UTF8.self)
                    let words: [String]
                    switch vocab.pre {
                    case "llama3", "llama-v3", "llama-bpe", "smaug-bpe": words = Self.llama3Split(text, maxDigits: 3)
                    case "qwen2", "deepseek-r1-qwen": words = Self.llama3Split(text, maxDigits: 1)
                    // SmolLM: every digit on its own, then GPT-2's split of the rest.
                    case "smollm": words = Self.digitSplit(text).flatMap { Self.gpt2Split($0) }
                    default: words = Self.gpt2Split(text)
                    }
                    for word in words { bpe(word, into: &out) }
                }
                prevSpecial = false
            }
        }
        if addSpecial, vocab.addEOS, let eos = vocab.eos { out.append(eos) }
        return out
    }

    /// The bytes of one token (control tokens: empty unless `special`).
    public func pieceBytes(_ id: Int, special: Bool = false) -> [UInt8] {
        guard id >= 0, id < vocab.count else { return [] }
        let t = vocab.tokens[id]
        switch vocab.types[id] {
        case .control, .unknown: return special ? Array(t.utf8) : []
        case .userDefined: return Array(t.utf8)
        case .byte:
            if t.count == 6, t.hasPrefix("<0x"), let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) { return [b] }
            return Array(t.utf8)
        default:
            if vocab.model == "llama" { return Array(t.replacingOccurrences("\u{2581}", " ").utf8) }
            var bytes: [UInt8] = []
            for c in t { if let b = unicodeToByte[c] { bytes.append(b) } else { bytes.append(contentsOf: String(c).utf8) } }
            return bytes
        }
    }

    /// Text of `ids`; with `stripLeadingSpace`, SentencePiece's added prefix space is removed
    /// (as llama.cpp's detokenize does for a whole sequence).
    public func decode(_ ids: [Int], special: Bool = false, stripLeadingSpace: Bool = true) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            var p = pieceBytes(id, special: special)
            if stripLeadingSpace, bytes.isEmpty, vocab.model == "llama", vocab.addSpacePrefix, p.first == 0x20,
               id == ids.first(where: { !pieceBytes($0, special: special).isEmpty }) {
                p.removeFirst()
            }
            bytes += p
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: special tokens

    private enum Fragment { case text([UInt8]), token(Int) }

    private func partition(_ bytes: [UInt8], parseSpecial: Bool) -> [Fragment] {
        let candidates = specials.filter { parseSpecial || !$0.control }
        guard !candidates.isEmpty else { return bytes.isEmpty ? [] : [.text(bytes)] }
        var out: [Fragment] = []
        var start = 0, i = 0
        outer: while i < bytes.count {
            for s in candidates where s.text.count <= bytes.count - i && bytes[i] == s.text[0] {
                if bytes[i..<(i + s.text.count)].elementsEqual(s.text) {
                    if i > start { out.append(.text(Array(bytes[start..<i]))) }
                    out.append(.token(s.id))
                    i += s.text.count
                    start = i
                    continue outer
                }
            }
            i += 1
        }
        if start < bytes.count { out.append(.text(Array(bytes[start...]))) }
        return out
    }

    // MARK: SentencePiece

    private struct Symbol { var start: Int; var len: Int; var prev: Int; var next: Int }

    private func spm(_ text: String, into out: inout [Int]) {
        let chars = Array(text.unicodeScalars.map { Character($0) })
        guard !chars.isEmpty else { return }
        // Symbols start as single UTF-8 characters (as scalars, which is what llama.cpp splits on).
        var symbols = chars.indices.map { Symbol(start: $0, len: 1, prev: $0 - 1, next: $0 + 1 < chars.count ? $0 + 1 : -1) }
        func str(_ start: Int, _ len: Int) -> String { String(chars[start..<(start + len)]) }
        var heap = BinaryHeap<SPMBigram>()
        func tryAdd(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0 else { return }
            let s = str(symbols[l].start, symbols[l].len + symbols[r].len)
            guard let id = vocab.idOf[s] else { return }
            heap.push(SPMBigram(left: l, right: r, score: vocab.scores[id], size: symbols[l].len + symbols[r].len))
        }
        for i in 1..<chars.count { tryAdd(i - 1, i) }
        while let b = heap.pop() {
            let l = b.left, r = b.right
            guard symbols[l].len > 0, symbols[r].len > 0, symbols[l].len + symbols[r].len == b.size else { continue }
            symbols[l].len += symbols[r].len
            symbols[r].len = 0
            symbols[l].next = symbols[r].next
            if symbols[r].next >= 0 { symbols[symbols[r].next].prev = l }
            tryAdd(symbols[l].prev, l)
            tryAdd(l, symbols[l].next)
        }
        // Every merge makes a vocabulary token, so only unmerged characters can be unknown:
        // those fall back to their UTF-8 bytes (`<0xXX>`), or to <unk>.
        func resegment(_ start: Int, _ len: Int) {
            let s = str(start, len)
            if let id = vocab.idOf[s] { out.append(id); return }
            for byte in s.utf8 {
                if let id = vocab.idOf[String(format2hex: byte)] { out.append(id) } else if let unk = vocab.unk { out.append(unk) }
            }
        }
        var i = 0
        while i >= 0 && i < symbols.count {
            if symbols[i].len > 0 { resegment(symbols[i].start, symbols[i].len) }
            i = symbols[i].next
        }
    }

    // MARK: GPT-2 BPE

    private func bpe(_ word: String, into out: inout [Int]) {
        var parts = Array(word.utf8).map { String(byteToUnicode[Int($0)]) }
        if parts.count > 1 {
            while true {
                var best = -1, bestRank = Int.max
                for i in 0..<(parts.count - 1) {
                    if let r = vocab.mergeRanks[parts[i] + " " + parts[i + 1]], r < bestRank { bestRank = r; best = i }
                }
                guard best >= 0 else { break }
                // Merge every non-overlapping occurrence of the best pair, left to right.
                let (a, b) = (parts[best], parts[best + 1])
                var merged: [String] = [], i = 0
                while i < parts.count {
                    if i + 1 < parts.count && parts[i] == a && parts[i + 1] == b { merged.append(a + b); i += 2 } else { merged.append(parts[i]); i += 1 }
                }
                parts = merged
            }
        }
        for p in parts {
            if let id = vocab.idOf[p] { out.append(id); continue }
            for c in p { if let id = vocab.idOf[String(c)] { out.append(id) } }
        }
    }

    /// GPT-2's pre-tokenizer: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    static func gpt2Split(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        let n = s.count
        var out: [String] = []
        let isL = PreTokenClass.isLetter, isN = PreTokenClass.isNumber, isS = PreTokenClass.isSpace
        func isO(_ c: Unicode.Scalar) -> Bool { !isS(c) && !isL(c) && !isN(c) }
        var i = 0
        while i < n {
            let start = i
            if s[i] == "'" && i + 1 < n {
                let c1 = s[i + 1]
                if "stmd".unicodeScalars.contains(c1) { i += 2 }
                else if i + 2 < n, ["re", "ve", "ll"].contains(String(String.UnicodeScalarView([c1, s[i + 2]]))) { i += 3 }
                if i > start { out.append(String(String.UnicodeScalarView(s[start..<i]))); continue }
            }
            // ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
            var j = i
            if s[j] == " " && j + 1 < n && !isS(s[j + 1]) { j += 1 }
            if !isS(s[j]) {
                let cls: (Unicode.Scalar) -> Bool = isL(s[j]) ? isL : (isN(s[j]) ? isN : isO)
                i = j + 1
                while i < n && cls(s[i]) { i += 1 }
            } else {
                // `\s+(?!\S)|\s+`: a whitespace run, leaving its last one to the next word.
                var k = i
                while k < n && isS(s[k]) { k += 1 }
                i = (k == n || k - i == 1) ? k : k - 1
            }
            out.append(String(String.UnicodeScalarView(s[start..<i])))
        }
        return out
    }

    /// LLaMA 3's pre-tokenizer (Qwen2's with `maxDigits` 1):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    static func llama3Split(_ text: String, maxDigits: Int) -> [String] {
        let s = Array(text.unicodeScalars)
        let n = s.count
        var out: [String] = []
        let isL = PreTokenClass.isLetter, isN = PreTokenClass.isNumber, isS = PreTokenClass.isSpace
        func isNL(_ c: Unicode.Scalar) -> Bool { c == "\r" || c == "\n" }
        var i = 0
        while i < n {
            let start = i
            defer { out.append(String(String.UnicodeScalarView(s[start..<i]))) }
            // Contractions, any case.
            if s[i] == "'" && i + 1 < n {
                let c1 = Character(s[i + 1]).lowercased()
                if ["s", "t", "m", "d"].contains(c1) { i += 2; continue }
                if i + 2 < n, ["re", "ve", "ll"].contains(c1 + Character(s[i + 2]).lowercased()) { i += 3; continue }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if isL(s[i]) || (!isNL(s[i]) && !isN(s[i]) && i + 1 < n && isL(s[i + 1])) {
                i += 1
                while i < n && isL(s[i]) { i += 1 }
                continue
            }
            // \p{N}{1,maxDigits}
            if isN(s[i]) {
                var k = 0
                while i < n && k < maxDigits && isN(s[i]) { i += 1; k += 1 }
                continue
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            var j = i
            if s[j] == " " && j + 1 < n { j += 1 }
            if !isS(s[j]) && !isL(s[j]) && !isN(s[j]) {
                i = j
                while i < n && !isS(s[i]) && !isL(s[i]) && !isN(s[i]) { i += 1 }
                while i < n && isNL(s[i]) { i += 1 }
                continue
            }
            // \s*[\r\n]+ : up to the last newline of the whitespace run.
            var k = i
            var lastNL = -1
            while k < n && isS(s[k]) { if isNL(s[k]) { lastNL = k }; k += 1 }
            if lastNL >= 0 { i = lastNL + 1; continue }
            // \s+(?!\S)|\s+
            i = (k == n || k - i == 1) ? k : k - 1
        }
        return out
    }

    /// Splits out each decimal digit (`\p{N}`) as its own piece, keeping the text between.
    static func digitSplit(_ text: String) -> [String] {
        var out: [String] = [], run = String.UnicodeScalarView()
        for c in text.unicodeScalars {
            if PreTokenClass.isNumber(c) {
                if !run.isEmpty { out.append(String(run)); run = String.UnicodeScalarView() }
                out.append(String(c))
            } else {
                run.append(c)
            }
        }
        if !run.isEmpty { out.append(String(run)) }
        return out
    }

    static func bytesToUnicode() -> [Character] {
        var bs = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) { bs.append(b); cs.append(256 + n); n += 1 }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return table
    }
}

private struct SPMBigram: Comparable {
    let left: Int, right: Int
    let score: Float
    let size: Int
    /// Higher score first; on ties, the leftmost pair.
    static func < (a: SPMBigram, b: SPMBigram) -> Bool { a.score < b.score || (a.score == b.score && a.left > b.left) }
}

extension String {
    init(format2hex byte: UInt8) {
        let hex = String(byte, radix: 16, uppercase: true)
        self = "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }

    func replacingOccurrences(_ a: String, _ b: String) -> String {
        guard !a.isEmpty else { return self }
        return self.split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }
}

/// A max-heap.
struct BinaryHeap<T: Comparable> {
    private var a: [T] = []
    var isEmpty: Bool { a.isEmpty }
    mutating func push(_ x: T) {
        a.append(x)
        var i = a.count - 1
        while i > 0 { let p = (i - 1) / 2; if a[p] < a[i] { a.swapAt(p, i); i = p } else { break } }
    }
    mutating func pop() -> T? {
        guard !a.isEmpty else { return nil }
        a.swapAt(0, a.count - 1)
        let top = a.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < a.count && a[m] < a[l] { m = l }
            if r < a.count && a[m] < a[r] { m = r }
            if m == i { break }
            a.swapAt(i, m); i = m
        }
        return top
    }
}

/// The character classes the pre-tokenizer regexes use: `\p{L}`, `\p{N}` and `\s`.
enum PreTokenClass {
    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }
}
