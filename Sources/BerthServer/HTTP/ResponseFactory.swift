import HTTPTypes
import Hummingbird

/// Builds the JSON responses every route shares.
enum ResponseFactory {
    /// The V2 error body `{"error": "..."}` with the error's status.
    static func error(_ e: ServerError) -> Response {
        var w = JSONWriter(capacity: 64)
        w.raw("{\"error\":")
        w.string(e.description)
        w.byte(0x7D)
        return json(w, status: e.status)
    }

    /// A JSON body.
    static func json(_ w: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: w.buffer))
    }

    /// An empty 200 (health and repository operations).
    static func ok() -> Response {
        var headers = HTTPFields()
        headers[.contentLength] = "0"
        return Response(status: .ok, headers: headers)
    }

    /// An empty response with a status (health checks answering "no").
    static func status(_ s: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentLength] = "0"
        return Response(status: s, headers: headers)
    }

    /// Reads the body up to `limit` bytes; a larger body is a 413.
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: limit)
        } catch let e as HTTPResponseError where e.status == .contentTooLarge {
            throw ServerError.bodyTooLarge(limit: limit)
        }
    }
}
