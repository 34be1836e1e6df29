/// One column of a data set: its name, every value as text, and the values as numbers when
/// every one of them is a number.
public struct Column: Sendable {
    /// The header name (for `.npy` data, the column index as text).
    public let name: String
    /// Every value as it appears in the file.
    public let text: [String]
    /// The values as numbers, or nil when some value is not a number (a string column).
    public let numbers: [Double]?
    /// For CSV files: the 1-based file line of each value, for error messages.
    public let lines: [Int]?

    /// A column from text; numeric when every value parses as a number (see ``Column/parseNumber(_:)``).
    public init(name: String, text: [String], lines: [Int]? = nil) {
        self.name = name
        self.text = text
        self.lines = lines
        var numbers: [Double] = []
        numbers.reserveCapacity(text.count)
        for t in text {
            guard let v = Column.parseNumber(t) else { self.numbers = nil; return }
            numbers.append(v)
        }
        self.numbers = numbers
    }

    /// A numeric column; the text is each number's shortest form (`3` for 3.0).
    public init(name: String, numbers: [Double]) {
        self.name = name
        self.numbers = numbers
        self.lines = nil
        self.text = numbers.map { ClassLabel.number($0).description }
    }

    /// The number of values.
    public var count: Int { text.count }

    /// True when every value is a number.
    public var isNumeric: Bool { numbers != nil }

    /// The values as numbers, or an error naming the first value (1-based row) that is not one.
    public func numericValues() throws -> [Double] {
        if let numbers { return numbers }
        let i = text.firstIndex { Column.parseNumber($0) == nil } ?? 0
        throw EvalError.nonNumeric(row: i + 1, line: line(of: i), column: name, value: text[i])
    }

    /// The file line of the value at 0-based index `i`, when known.
    public func line(of i: Int) -> Int? { lines.map { $0[i] } }

    /// The values as class labels: numbers when the column is numeric, otherwise strings.
    public var labels: [ClassLabel] {
        if let numbers { return numbers.map(ClassLabel.number) }
        return text.map(ClassLabel.string)
    }

    /// Parses a decimal number as Python's `float()` does: surrounding whitespace is ignored;
    /// `nan`, `inf` and `infinity` (any case, optional sign) are accepted; an empty value,
    /// hexadecimal and anything else is not a number.
    public static func parseNumber(_ s: String) -> Double? {
        var t = Substring(s)
        while let c = t.first, c == " " || c == "\t" { t.removeFirst() }
        while let c = t.last, c == " " || c == "\t" { t.removeLast() }
        guard let first = t.utf8.first else { return nil }
        // Digits, a sign or a point start a decimal number; letters only the named specials.
        if first == UInt8(ascii: "+") || first == UInt8(ascii: "-") || first == UInt8(ascii: ".")
            || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) {
            for b in t.utf8 {
                let ok = (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "+")
                    || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
                if !ok { return special(t) }
            }
            return Double(t)
        }
        return special(t)
    }

    private static func special(_ t: Substring) -> Double? {
        var body = t.lowercased()
        var sign = 1.0
        if body.hasPrefix("+") { body.removeFirst() } else if body.hasPrefix("-") { body.removeFirst(); sign = -1 }
        switch body {
        case "nan": return .nan
        case "inf", "infinity": return sign * .infinity
        default: return nil
        }
    }
}
