import Foundation

extension DecodingError {
    /// A message naming the field and the problem (`'dynamic_batching.max_queue_size' must be an
    /// integer`), for the 400 answers of Codable bodies.
    public var fieldMessage: String {
        func path(_ c: [CodingKey]) -> String {
            c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        func article(_ t: Any.Type) -> String {
            switch t {
            case is String.Type: return "a string"
            case is Bool.Type: return "a boolean"
            case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type, is UInt32.Type: return "an integer"
            case is Double.Type, is Float.Type: return "a number"
            default:
                let name = "\(t)"
                if name.hasPrefix("Array") { return "an array" }
                if name.hasPrefix("Dictionary") { return "an object" }
                return "a \(name)"
            }
        }
        switch self {
        case let .typeMismatch(t, c): return "'\(path(c.codingPath))' must be \(article(t))"
        case let .valueNotFound(t, c): return "'\(path(c.codingPath))' must be \(article(t)), not null"
        case let .keyNotFound(k, c): return "missing '\(path(c.codingPath + [k]))'"
        case let .dataCorrupted(c):
            if c.codingPath.isEmpty {
                return "malformed JSON" + ((c.underlyingError.map { ": \($0.localizedDescription)" }) ?? "")
            }
            return "'\(path(c.codingPath))': \(c.debugDescription)"
        @unknown default: return "\(self)"
        }
    }
}
