import BerthEval
import Foundation

extension RowOutcome {
    /// The JSON the synthesized `Codable` conformance writes (`{"classes":{"_0":[..],"scores":[..]}}`,
    /// `{"values":{"_0":[..]}}`, `{"unknown":{}}`), built by hand: the log writer encodes one per
    /// record, and Foundation's encoder cost more than the SQLite insert. Nil when a number is not
    /// finite (JSON has no NaN), as the encoder would have thrown.
    var jsonText: String? {
        var out = ""
        func number(_ v: Double) -> Bool {
            guard v.isFinite else { return false }
            if v == v.rounded(), abs(v) < 1e15 { out += String(Int64(v)) } else { out += "\(v)" }
            return true
        }
        func numbers(_ list: [Double]) -> Bool {
            out += "["
            for (i, v) in list.enumerated() {
                if i > 0 { out += "," }
                guard number(v) else { return false }
            }
            out += "]"
            return true
        }
        switch self {
        case .unknown:
            return #"{"unknown":{}}"#
        case let .values(v):
            out = #"{"values":{"_0":"#
            guard numbers(v) else { return nil }
            out += "}}"
        case let .classes(labels, scores):
            out = #"{"classes":{"_0":["#
            for (i, l) in labels.enumerated() {
                if i > 0 { out += "," }
                switch l {
                case let .number(v): guard number(v) else { return nil }
                case let .string(s): Self.appendQuoted(s, to: &out)
                }
            }
            out += "]"
            if let scores {
                out += #","scores":"#
                guard numbers(scores) else { return nil }
            }
            out += "}}"
        }
        return out
    }

    /// Appends `s` as a JSON string literal.
    static func appendQuoted(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
