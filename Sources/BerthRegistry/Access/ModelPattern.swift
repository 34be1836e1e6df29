/// Which models a key may touch: a comma-separated list of names where `*` matches any run of
/// characters (`fraud-*`, `churn,churn-v2`, `*`).
public struct ModelPattern: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The patterns as given, trimmed.
    public let parts: [String]

    /// Every model.
    public static let all = ModelPattern(parts: ["*"])

    private init(parts: [String]) { self.parts = parts }

    /// Parses `text`; throws on an empty list or characters a model name cannot have.
    public init(_ text: String) throws {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else {
            throw RegistryError.badInput("model pattern '\(text)' is empty: give names or globs such as 'fraud-*'")
        }
        for p in parts {
            let ok = p.unicodeScalars.allSatisfy { s in
                s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || "_-.*".unicodeScalars.contains(s))
            }
            if !ok {
                throw RegistryError.badInput("model pattern '\(p)': use model-name characters (letters, digits, '_', '-', '.') and '*'")
            }
        }
        self.parts = parts
    }

    /// Whether `model` matches one of the patterns.
    public func matches(_ model: String) -> Bool {
        parts.contains { Self.glob($0[...], model[...]) }
    }

    /// `*`-only glob match, iterative (no backtracking blow-up: at most one star is retried).
    static func glob(_ pattern: Substring, _ text: Substring) -> Bool {
        var p = pattern.startIndex, t = text.startIndex
        var star: Substring.Index?, mark = text.startIndex
        while t < text.endIndex {
            if p < pattern.endIndex, pattern[p] != "*", pattern[p] == text[t] {
                p = pattern.index(after: p); t = text.index(after: t)
            } else if p < pattern.endIndex, pattern[p] == "*" {
                star = p; mark = t; p = pattern.index(after: p)
            } else if let s = star {
                p = pattern.index(after: s); mark = text.index(after: mark); t = mark
            } else {
                return false
            }
        }
        while p < pattern.endIndex, pattern[p] == "*" { p = pattern.index(after: p) }
        return p == pattern.endIndex
    }

    public var description: String { parts.joined(separator: ",") }

    public init(from decoder: any Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
