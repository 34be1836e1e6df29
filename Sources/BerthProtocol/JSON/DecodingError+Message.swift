import Foundation

extension DecodingError {
    /// What is wrong with a JSON document, to follow "the body" or "config.json:": "is not valid
    /// JSON: … at byte N", "needs 'version'", "'gates[0]' must be a string" …
    public func message(in data: Data) -> String {
        switch self {
        case let .keyNotFound(key, context):
            return "needs \(Self.quoted(context.codingPath + [key]))"
        case let .valueNotFound(type, context):
            return "\(Self.quoted(context.codingPath)) must be \(Self.kind(type)), not null"
        case let .typeMismatch(type, context):
            return context.codingPath.isEmpty ? "must be \(Self.kind(type))" : "\(Self.quoted(context.codingPath)) must be \(Self.kind(type))"
        case let .dataCorrupted(context):
            if !context.codingPath.isEmpty { return "\(Self.quoted(context.codingPath)): \(context.debugDescription)" }
            // Foundation's decoder says only "not valid JSON", also for a number that does not fit
            // its field; Berth's own reader finds where the syntax breaks, if it does.
            let syntax: JSONSyntaxError? = data.withUnsafeBytes { raw in
                var reader = JSONReader(raw.bindMemory(to: UInt8.self))
                do { _ = try reader.parse(); return nil } catch { return error as? JSONSyntaxError }
            }
            if let syntax { return "is not valid JSON: \(syntax.message) at byte \(syntax.offset)" }
            return "has a number that does not fit its field (a fraction or an out-of-range value where an integer is expected)"
        @unknown default:
            return "cannot be read: \(self)"
        }
    }

    /// `'canary.percent'`, `'gates[0]'`.
    private static func quoted(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let i = key.intValue { text += "[\(i)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
        }
        return "'\(text)'"
    }

    private static func kind(_ type: Any.Type) -> String {
        switch type {
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        default:
            let name = String(describing: type)
            return name.hasPrefix("Array") ? "an array" : "an object"
        }
    }
}
