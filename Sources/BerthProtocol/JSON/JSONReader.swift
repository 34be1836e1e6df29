import Foundation

/// Why a JSON document could not be read; the message gives the byte offset.
struct JSONSyntaxError: Error, CustomStringConvertible {
    var message: String
    var offset: Int
    var description: String { "malformed JSON at byte \(offset): \(message)" }
}

/// A strict, allocation-light JSON reader over a byte buffer.
///
/// `parse(lazyKey:)` reads a whole document into ``JSONValue``; arrays under the member name
/// `lazyKey` are validated but kept as `.raw` byte ranges so that tensor data can later be decoded
/// by ``forEachLeaf(in:_:)`` and the typed number readers without intermediate boxing.
struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0
    /// Nesting deeper than this is refused (protects the stack from hostile documents).
    static let maxDepth = 64

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    // MARK: Document

    /// Parses one complete JSON document (trailing whitespace only).
    mutating func parse(lazyKey: String? = nil) throws -> JSONValue {
        let lazy = lazyKey.map { Array($0.utf8) }
        let v = try value(depth: 0, lazyKey: lazy)
        skipWhitespace()
        if pos != bytes.count { throw error("unexpected data after the JSON value") }
        return v
    }

    func error(_ m: String) -> JSONSyntaxError { JSONSyntaxError(message: m, offset: pos) }

    @inline(__always) mutating func skipWhitespace() {
        while pos < bytes.count {
            let c = bytes[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { return }
        }
    }

    @inline(__always) func peek() -> UInt8? { pos < bytes.count ? bytes[pos] : nil }

    mutating func value(depth: Int, lazyKey: [UInt8]?) throws -> JSONValue {
        guard depth < Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth)") }
        skipWhitespace()
        guard let c = peek() else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth, lazyKey: lazyKey)
        case UInt8(ascii: "["):
            pos += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1, lazyKey: lazyKey))
                skipWhitespace()
                guard let d = peek() else { throw error("unterminated array") }
                pos += 1
                if d == UInt8(ascii: "]") { return .array(items) }
                if d != UInt8(ascii: ",") { pos -= 1; throw error("expected ',' or ']' in array") }
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            let t = try numberToken()
            return .number(t.double(bytes), t.exactInt64)
        }
    }

    mutating func object(depth: Int, lazyKey: [UInt8]?) throws -> JSONValue {
        pos += 1
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name string") }
            let keyStart = pos + 1
            let key = try string()
            let keyEnd = pos - 1
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw error("expected ':' after member name") }
            pos += 1
            skipWhitespace()
            if let lazyKey, peek() == UInt8(ascii: "["), keyEnd - keyStart == lazyKey.count,
               lazyKey.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress! + keyStart, lazyKey.count) == 0 }) {
                let start = pos
                try skipValue(depth: depth + 1)
                members.append((key, .raw(start..<pos)))
            } else {
                members.append((key, try value(depth: depth + 1, lazyKey: lazyKey)))
            }
            skipWhitespace()
            guard let d = peek() else { throw error("unterminated object") }
            pos += 1
            if d == UInt8(ascii: "}") { return .object(members) }
            if d != UInt8(ascii: ",") { pos -= 1; throw error("expected ',' or '}' in object") }
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard pos + n <= bytes.count, memcmp(bytes.baseAddress! + pos, word.utf8Start, n) == 0 else {
            throw error("invalid literal")
        }
        pos += n
    }

    /// Validates one value without building it (used for lazily decoded arrays).
    mutating func skipValue(depth: Int) throws {
        guard depth < Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth)") }
        skipWhitespace()
        guard let c = peek() else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "["):
            pos += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { pos += 1; return }
            while true {
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard let d = peek() else { throw error("unterminated array") }
                pos += 1
                if d == UInt8(ascii: "]") { return }
                if d != UInt8(ascii: ",") { pos -= 1; throw error("expected ',' or ']' in array") }
            }
        case UInt8(ascii: "{"): _ = try object(depth: depth, lazyKey: nil)
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try numberToken()
        }
    }

    // MARK: Strings

    mutating func skipString() throws {
        pos += 1
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") { pos += 1; return }
            if c == UInt8(ascii: "\\") { pos += 2; continue }
            if c < 0x20 { throw error("control character in string") }
            pos += 1
        }
        throw error("unterminated string")
    }

    /// Reads a string starting at the opening quote.
    mutating func string() throws -> String {
        pos += 1
        let start = pos
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
                pos += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("control character in string") }
            pos += 1
        }
        // Slow path with escapes.
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") { pos += 1; return String(decoding: out, as: UTF8.self) }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); pos += 1; continue }
            pos += 1
            guard let e = peek() else { break }
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    pos += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: pos -= 1; throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    // MARK: Numbers

    /// Reads a number literal (also Python's `NaN`, `Infinity`, `-Infinity`).
    mutating func numberToken() throws -> NumberToken {
        var t = NumberToken(start: pos)
        if peek() == UInt8(ascii: "-") { t.negative = true; pos += 1 }
        guard let first = peek() else { throw error("unexpected end of input") }
        if first == UInt8(ascii: "N") { try literal("NaN"); t.special = .nan; t.end = pos; return t }
        if first == UInt8(ascii: "I") { try literal("Infinity"); t.special = t.negative ? -.infinity : .infinity; t.end = pos; return t }
        guard first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
            throw error("unexpected character '\(Character(Unicode.Scalar(first)))'")
        }
        var digits = 0
        if first == UInt8(ascii: "0") {
            pos += 1
        } else {
            while let c = peek(), c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                if digits < 19 { t.mantissa = t.mantissa &* 10 &+ UInt64(c &- 48); digits += 1 } else { t.exp10 += 1; t.truncated = true }
                pos += 1
            }
        }
        if peek() == UInt8(ascii: ".") {
            pos += 1
            t.isInteger = false
            var any = false
            while let c = peek(), c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                any = true
                if digits < 19 {
                    if c != 48 || t.mantissa != 0 { digits += 1 }
                    t.mantissa = t.mantissa &* 10 &+ UInt64(c &- 48)
                    t.exp10 -= 1
                } else if c != 48 { t.truncated = true }
                pos += 1
            }
            if !any { throw error("digit expected after '.'") }
        }
        if let c = peek(), c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            pos += 1
            t.isInteger = false
            var negExp = false
            if let s = peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { negExp = s == UInt8(ascii: "-"); pos += 1 }
            var e = 0
            var any = false
            while let c = peek(), c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                any = true
                if e < 100_000 { e = e * 10 + Int(c - 48) }
                pos += 1
            }
            if !any { throw error("digit expected in exponent") }
            t.exp10 += negExp ? -e : e
        }
        t.end = pos
        return t
    }

    // MARK: Tensor data

    /// Calls `body` with the position of every leaf (non-array value) of the array in `range`, in
    /// document order, flattening nested arrays. The range was validated when it was read.
    mutating func forEachLeaf(in range: Range<Int>, _ body: (inout JSONReader) throws -> Void) throws {
        pos = range.lowerBound
        while pos < range.upperBound {
            let c = bytes[pos]
            switch c {
            case UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ","), 0x20, 0x0A, 0x0D, 0x09: pos += 1
            default: try body(&self)
            }
        }
    }
}

/// A scanned number literal: sign, up to 19 significant decimal digits and a decimal exponent.
struct NumberToken {
    var start: Int
    var end = 0
    var negative = false
    var mantissa: UInt64 = 0
    var exp10 = 0
    var truncated = false
    var isInteger = true
    var special: Double?

    init(start: Int) { self.start = start }

    private static let powers: [Double] = (0...22).map { pow(10.0, Double($0)) }

    /// The exact value as Int64 when the literal is an integer that fits.
    var exactInt64: Int64? {
        guard isInteger, !truncated, special == nil, exp10 == 0 else { return nil }
        if negative {
            if mantissa <= UInt64(Int64.max) { return -Int64(mantissa) }
            if mantissa == UInt64(Int64.max) + 1 { return .min }
            return nil
        }
        return mantissa <= UInt64(Int64.max) ? Int64(mantissa) : nil
    }

    /// The value as Double, correctly rounded (Clinger's fast path, else the C library).
    func double(_ bytes: UnsafeBufferPointer<UInt8>) -> Double {
        if let special { return special }
        if !truncated, mantissa <= (1 << 53), exp10 >= -22, exp10 <= 22 {
            let m = Double(mantissa)
            let v = exp10 >= 0 ? m * Self.powers[exp10] : m / Self.powers[-exp10]
            return negative ? -v : v
        }
        if mantissa == 0 { return negative ? -0.0 : 0 }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        return Double(text) ?? .nan
    }

    /// The value as Float. Within ±1e22 with ≤19 digits it goes through one or two Double
    /// roundings, which can differ from correct rounding only for literals within 1e-16 of a
    /// float midpoint; others use the C library.
    func float(_ bytes: UnsafeBufferPointer<UInt8>) -> Float {
        if let special { return Float(special) }
        if mantissa == 0 { return negative ? -0.0 : 0 }
        if exp10 >= -22, exp10 <= 22 {
            let m = Double(mantissa)
            let v = exp10 >= 0 ? m * Self.powers[exp10] : m / Self.powers[-exp10]
            return Float(negative ? -v : v)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        return Float(text) ?? .nan
    }
}
