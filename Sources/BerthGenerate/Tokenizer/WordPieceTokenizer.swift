import Foundation

/// BERT's tokenizer as Hugging Face `tokenizers` writes it to `tokenizer.json`: the BERT
/// normalizer (clean text, spaces around CJK characters, accents stripped, lower case), the
/// BERT pre-tokenizer (split on whitespace and punctuation), WordPiece (greedy longest match,
/// `##` continuations, `[UNK]` for a word that does not split) and `[CLS] … [SEP]` around it.
public struct WordPieceTokenizer: Sendable {
    public let vocab: [String: Int]
    public let unknown: Int
    public let continuingPrefix: String
    public let maxInputCharsPerWord: Int
    public let lowercase: Bool
    public let stripAccents: Bool
    public let cleanText: Bool
    public let chineseChars: Bool
    /// Token ids put before and after the text (`[CLS]`, `[SEP]`).
    public let prefix: [Int]
    public let suffix: [Int]
    /// The id padding positions get.
    public let padID: Int
    /// Longest sequence, special tokens included (`truncation.max_length`, else 512).
    public let maxLength: Int

    /// Parses a `tokenizer.json` whose model is WordPiece; anything else throws ``GenerateError/tokenizer(_:)``.
    public init(json data: Data) throws {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw GenerateError.tokenizer("tokenizer.json is not a JSON object")
        }
        guard let model = root["model"] as? [String: Any], (model["type"] as? String) == "WordPiece",
              let vocab = model["vocab"] as? [String: Int] else {
            throw GenerateError.tokenizer("tokenizer.json: only a WordPiece model (BERT's) is supported")
        }
        self.vocab = vocab
        let unk = model["unk_token"] as? String ?? "[UNK]"
        guard let unkID = vocab[unk] else { throw GenerateError.tokenizer("tokenizer.json: the unknown token '\(unk)' is not in the vocabulary") }
        unknown = unkID
        continuingPrefix = model["continuing_subword_prefix"] as? String ?? "##"
        maxInputCharsPerWord = model["max_input_chars_per_word"] as? Int ?? 100
        let norm = root["normalizer"] as? [String: Any]
        if let norm, (norm["type"] as? String) != "BertNormalizer" {
            throw GenerateError.tokenizer("tokenizer.json: normalizer '\(norm["type"] ?? "?")' is not supported (BertNormalizer is)")
        }
        lowercase = norm?["lowercase"] as? Bool ?? false
        stripAccents = norm?["strip_accents"] as? Bool ?? lowercase  // null follows lowercase, as in BERT
        cleanText = norm?["clean_text"] as? Bool ?? false
        chineseChars = norm?["handle_chinese_chars"] as? Bool ?? false
        func id(_ token: String) throws -> Int {
            guard let i = vocab[token] else { throw GenerateError.tokenizer("tokenizer.json: special token '\(token)' is not in the vocabulary") }
            return i
        }
        var prefix: [Int] = [], suffix: [Int] = []
        if let post = root["post_processor"] as? [String: Any] {
            switch post["type"] as? String {
            case "BertProcessing":
                if let cls = post["cls"] as? [Any], let c = cls.last as? Int { prefix = [c] }
                if let sep = post["sep"] as? [Any], let s = sep.last as? Int { suffix = [s] }
            case "TemplateProcessing":
                var seenSequence = false
                for piece in post["single"] as? [[String: Any]] ?? [] {
                    if piece["Sequence"] != nil { seenSequence = true; continue }
                    guard let special = piece["SpecialToken"] as? [String: Any], let name = special["id"] as? String else { continue }
                    let declared = ((post["special_tokens"] as? [String: Any])?[name] as? [String: Any])?["ids"] as? [Int]
                    let ids = try declared ?? [id(name)]
                    if seenSequence { suffix += ids } else { prefix += ids }
                }
            default: throw GenerateError.tokenizer("tokenizer.json: post-processor '\(post["type"] ?? "?")' is not supported")
            }
        }
        self.prefix = prefix
        self.suffix = suffix
        padID = (root["padding"] as? [String: Any])?["pad_id"] as? Int ?? vocab["[PAD]"] ?? 0
        let maxLength = (root["truncation"] as? [String: Any])?["max_length"] as? Int ?? 512
        guard maxLength > prefix.count + suffix.count else { throw GenerateError.tokenizer("tokenizer.json: max_length \(maxLength) leaves no room for text") }
        self.maxLength = maxLength
    }

    /// The ids of `text` with the special tokens around it, cut to ``maxLength`` (the text is truncated, the specials kept).
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        for word in preTokenize(normalize(text)) {
            ids += wordPiece(word)
            if ids.count >= maxLength { break }
        }
        let room = maxLength - prefix.count - suffix.count
        return prefix + ids.prefix(room) + suffix
    }

    func normalize(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if cleanText {
                if s.value == 0 || s.value == 0xFFFD || (Self.isControl(s)) { continue }
                if Self.isWhitespace(s) { out.append(" "); continue }
            }
            if chineseChars && Self.isChinese(s) {
                out.append(" "); out.append(s); out.append(" ")
                continue
            }
            out.append(s)
        }
        var s = String(out)
        if stripAccents {
            s = String(String.UnicodeScalarView(s.decomposedStringWithCanonicalMapping.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }))
        }
        if lowercase { s = s.lowercased() }
        return s
    }

    func preTokenize(_ text: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() { if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() } }
        for s in text.unicodeScalars {
            if s.properties.isWhitespace { flush() } else if Self.isPunctuation(s) {
                flush()
                words.append(String(s))
            } else {
                current.append(s)
            }
        }
        flush()
        return words
    }

    func wordPiece(_ word: String) -> [Int] {
        let chars = Array(word.unicodeScalars)
        guard chars.count <= maxInputCharsPerWord else { return [unknown] }
        var out: [Int] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var found: Int?
            while start < end {
                var piece = String(String.UnicodeScalarView(chars[start..<end]))
                if start > 0 { piece = continuingPrefix + piece }
                if let id = vocab[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            out.append(id)
            start = end
        }
        return out
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\n" || s == "\r" || s.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation,
             .otherPunctuation: return true
        default: return false
        }
    }

    static func isChinese(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}
