import BerthProtocol
import HTTPTypes
import Hummingbird

/// Builds the responses every route shares.
enum ResponseFactory {
    /// The V2 error body `{"error": "..."}` with the error's status.
    static func error(_ e: ServerError) -> Response {
        var response = error(e.description, status: e.status)
        switch e {
        case .unauthenticated: response.headers[.wwwAuthenticate] = "Bearer realm=\"berth\""
        case let .rateLimited(_, after): response.headers[.retryAfter] = String(max(1, Int(after.rounded(.up))))
        default: break
        }
        return response
    }

    /// The V2 error body `{"error": message}` with `status`.
    static func error(_ message: String, status: HTTPResponse.Status) -> Response {
        // A body of one string cannot fail to encode.
        (try? Response.json(V2ErrorBody(error: message), status: status)) ?? Self.status(status)
    }

    /// A JSON body already in a buffer (inference responses).
    static func json(buffer: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }

    /// An empty 200 (repository operations).
    static func ok() -> Response { status(.ok) }

    /// An empty response with a status.
    static func status(_ s: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentLength] = "0"
        return Response(status: s, headers: headers)
    }

    /// Reads the body up to `limit` bytes; a larger body is a 413, a body whose framing is broken
    /// (a bad chunk size, an unsupported transfer coding) a 400.
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: limit)
        } catch let e as HTTPResponseError where e.status == .contentTooLarge {
            throw ServerError.bodyTooLarge(limit: limit)
        } catch let e as ServerError {
            throw e
        } catch {
            throw ServerError.badRequest("malformed request body: \(error)")
        }
    }
}
