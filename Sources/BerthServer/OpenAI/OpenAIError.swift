import BerthGenerate
import BerthProtocol
import Foundation
import HTTPTypes
import Hummingbird

/// An error in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, which the
/// `openai` client turns into `BadRequestError`, `NotFoundError` and so on by status.
struct OpenAIError: Error, Sendable {
    let status: HTTPResponse.Status
    let message: String
    let type: String
    let param: String?
    let code: String?
    /// Seconds to wait before retrying (a quota's 429 sends `Retry-After`).
    var retryAfter: Double? = nil

    static func badRequest(_ message: String, param: String? = nil) -> OpenAIError {
        OpenAIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: nil)
    }
    static func modelNotFound(_ name: String) -> OpenAIError {
        OpenAIError(status: .notFound, message: "The model `\(name)` does not exist.", type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    /// Any error as an OpenAI error: generation errors are the request's fault (400), others 500.
    static func from(_ error: any Error) -> OpenAIError {
        switch error {
        case let e as OpenAIError: return e
        case let e as GenerateError:
            if case .cacheFull = e { return OpenAIError(status: .serviceUnavailable, message: "\(e)", type: "server_error", param: nil, code: nil) }
            return .badRequest("\(e)")
        case let e as ServerError:
            var o = OpenAIError(status: e.status, message: "\(e)", type: e.status.code < 500 ? "invalid_request_error" : "server_error", param: nil, code: nil)
            if case let .rateLimited(_, retryAfter) = e { o.retryAfter = retryAfter }
            return o
        default: return OpenAIError(status: .internalServerError, message: "\(error)", type: "server_error", param: nil, code: nil)
        }
    }

    struct Body: Encodable {
        struct Inner: Encodable {
            let message: String
            let type: String
            let param: String?
            let code: String?
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(message, forKey: .message)
                try c.encode(type, forKey: .type)
                try c.encode(param, forKey: .param)  // explicit nulls, as OpenAI sends them
                try c.encode(code, forKey: .code)
            }
            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }
        let error: Inner
    }

    var response: Response {
        let data = (try? JSONEncoder().encode(Body(error: .init(message: message, type: type, param: param, code: code)))) ?? Data()
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let retryAfter { headers[.retryAfter] = String(Int(retryAfter.rounded(.up))) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
