import BerthRegistry
import HTTPTypes
import Hummingbird

extension Response {
    /// A JSON body encoded with the shared ``RegistryJSON/encoder`` (sorted keys, ISO-8601 times).
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try RegistryJSON.encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
