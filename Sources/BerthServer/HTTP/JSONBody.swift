import BerthRegistry
import Foundation
import Hummingbird

/// Reads JSON request bodies (and JSON carried in query parameters) into `Decodable` types with
/// the shared ``RegistryJSON/decoder``. Every failure is a 400 whose message names the problem:
/// the byte where the syntax breaks, or the field that is missing or has the wrong type.
enum JSONBody {
    /// The body decoded as `T`; nil when the body is empty or `null` (callers pick defaults).
    static func read<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T? {
        let buffer = try await ResponseFactory.collect(request, limit: limit)
        guard buffer.readableBytes > 0 else { return nil }
        return try decode(T?.self, from: Data(buffer: buffer), what: "the body")
    }

    /// Decodes `data` as `T`; `what` starts the error message (`the body`, `the metrics`).
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, what: String) throws -> T {
        do {
            return try RegistryJSON.decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw ServerError.badRequest("\(what) \(describe(error, in: data))")
        }
    }

    /// What is wrong, after "the body": "is not valid JSON: …", "needs 'version'", "'gates[0]'
    /// must be a string" …
    static func describe(_ error: DecodingError, in data: Data) -> String {
        switch error {
        case let .keyNotFound(key, context):
            return "needs \(quoted(context.codingPath + [key]))"
        case let .valueNotFound(type, context):
            return "\(quoted(context.codingPath)) must be \(kind(type)), not null"
        case let .typeMismatch(type, context):
            return context.codingPath.isEmpty ? "must be \(kind(type))" : "\(quoted(context.codingPath)) must be \(kind(type))"
        case let .dataCorrupted(context):
            if !context.codingPath.isEmpty { return "\(quoted(context.codingPath)): \(context.debugDescription)" }
            // Foundation's decoder says only "not valid JSON", also for a number that does not fit
            // its field; the server's own reader finds where the syntax breaks, if it does.
            let syntax: JSONSyntaxError? = data.withUnsafeBytes { raw in
                var reader = JSONReader(raw.bindMemory(to: UInt8.self))
                do { _ = try reader.parse(); return nil } catch { return error as? JSONSyntaxError }
            }
            if let syntax { return "is not valid JSON: \(syntax.message) at byte \(syntax.offset)" }
            return "has a number that does not fit its field (a fraction or an out-of-range value where an integer is expected)"
        @unknown default:
            return "cannot be read: \(error)"
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
        case is Int.Type, is Int64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        default:
            let name = String(describing: type)
            return name.hasPrefix("Array") ? "an array" : "an object"
        }
    }
}
