import BerthProtocol
import BerthRegistry
import Foundation
import Hummingbird

/// Reads JSON request bodies (and JSON carried in query parameters) into `Decodable` types with
/// the shared ``CodableJSON/decoder``. Every failure is a 400 whose message names the problem:
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
            return try CodableJSON.decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw ServerError.badRequest("\(what) \(error.message(in: data))")
        }
    }
}
