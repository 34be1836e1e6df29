import BerthProtocol
import BerthRegistry
import HTTPTypes
import Hummingbird

extension Response {
    /// A JSON body encoded with the shared ``CodableJSON/encoder`` (sorted keys, ISO-8601 times).
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try CodableJSON.encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
