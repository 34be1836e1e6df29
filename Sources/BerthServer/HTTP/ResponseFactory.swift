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
        case let .rateLimited(_, after):
            // Clamped: a tiny rate must not ask for (or overflow into) a wait of centuries.
            let seconds = after.isFinite ? min(max(1, after.rounded(.up)), 86_400) : 86_400
            response.headers[.retryAfter] = String(Int(seconds))
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
    static func collect(_ request: Request, limit: Int, timeout: Duration? = nil) async throws -> ByteBuffer {
        var request = request
        do {
            guard let timeout else { return try await request.collectBody(upTo: limit) }
            // A deadline for the whole body: the idle timeout bounds each chunk, but a client
            // trickling a byte every few seconds would otherwise hold the request open forever.
            let body = request
            return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask {
                    var r = body
                    return try await r.collectBody(upTo: limit)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let buffer = first else {
                    throw ServerError.requestTimeout("the request body did not arrive within \(timeout) (--body-timeout)")
                }
                return buffer
            }
        } catch let e as HTTPResponseError where e.status == .contentTooLarge {
            throw ServerError.bodyTooLarge(limit: limit)
        } catch let e as ServerError {
            throw e
        } catch {
            throw ServerError.badRequest("malformed request body: \(error)")
        }
    }
}
