import BerthProtocol
import HTTPTypes
import Hummingbird
import Logging

/// Builds the responses every route shares.
enum ResponseFactory {
    /// The V2 error body `{"error": "..."}` with the error's status.
    static func error(_ e: ServerError) -> Response {
        json(V2ErrorBody(error: e.description), status: e.status)
    }

    /// A Codable value as a JSON body.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data: [UInt8]
        do { data = Array(try CodableJSON.encode(value)) } catch {
            // Every body type is plain data with finite numbers; failing here is a programming error.
            Logger(label: "berth.server").error("response encoding failed", metadata: ["error": "\(error)"])
            return json(bytes: Array(#"{"error":"response encoding failed"}"#.utf8), status: .internalServerError)
        }
        return json(bytes: data, status: status)
    }

    /// A body that is JSON already.
    static func json(bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A JSON body already in a buffer (inference responses).
    static func json(buffer: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }

    /// An empty 200 (health and repository operations).
    static func ok() -> Response { status(.ok) }

    /// An empty response with a status (health checks answering "no").
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
