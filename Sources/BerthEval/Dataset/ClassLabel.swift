/// A class label: a number (int64 labels, numeric label columns) or a string. Labels sort as
/// scikit-learn sorts them: numbers by value, strings by Unicode code points.
public enum ClassLabel: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// A numeric label (int64 outputs and numeric columns alike).
    case number(Double)
    /// A string label.
    case string(String)

    /// Numbers before strings (the two never mix in one evaluation); numbers by value; strings
    /// by code point, like Python's `str` ordering.
    public static func < (a: ClassLabel, b: ClassLabel) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)): return x < y
        case let (.string(x), .string(y)):
            return x.unicodeScalars.lazy.map(\.value).lexicographicallyPrecedes(y.unicodeScalars.lazy.map(\.value))
        case (.number, .string): return true
        case (.string, .number): return false
        }
    }

    /// Integral numbers print without a fraction (`3`, not `3.0`).
    public var description: String {
        switch self {
        case let .number(v):
            if v.rounded() == v, abs(v) < 1e15 { return String(Int64(v)) }
            return String(v)
        case let .string(s): return s
        }
    }

    /// True for string labels.
    public var isString: Bool { if case .string = self { return true }; return false }

    /// Decodes a JSON number or string.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Double.self) { self = .number(v) } else { self = .string(try c.decode(String.self)) }
    }

    /// Encodes as a JSON number or string.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .number(v): try c.encode(v)
        case let .string(s): try c.encode(s)
        }
    }
}
