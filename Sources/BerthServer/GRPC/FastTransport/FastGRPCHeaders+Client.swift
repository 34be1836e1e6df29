import GRPCCore
import NIOHPACK
import NIOHTTP2

/// The client's side of gRPC's HTTP/2 header rules (gRPC's HTTP/2 protocol document): a call's
/// request headers, and the status a response's headers or trailers carry.
extension FastGRPCHeaders {
    /// A unary call's request headers: POST to `path` with the gRPC content type, `te: trailers`, and
    /// `metadata` (string values; keys lower-cased as HTTP/2 requires).
    static func clientRequest(path: String, authority: String, metadata: [(key: String, value: String)]) -> HPACKHeaders {
        var headers = HPACKHeaders()
        headers.reserveCapacity(7 + metadata.count)
        headers.add(name: ":method", value: "POST")
        headers.add(name: ":scheme", value: "http")
        headers.add(name: ":path", value: path)
        headers.add(name: ":authority", value: authority)
        headers.add(name: "content-type", value: "application/grpc")
        headers.add(name: "te", value: "trailers")
        headers.add(name: "user-agent", value: "berth-grpc")
        for (key, value) in metadata { headers.add(name: key.lowercased(), value: value) }
        return headers
    }

    /// The status of a response's first HEADERS when it is not a plain 200 (nil: it is, the call goes on).
    /// A non-200 `:status` maps to a code as gRPC's "HTTP to gRPC status code mapping" document says.
    static func responseStatus(_ headers: HPACKHeaders) -> Status? {
        let status = headers.first(name: ":status") ?? ""
        guard status == "200" else {
            let code: Status.Code
            switch Int(status) {
            case 400: code = .internalError
            case 401: code = .unauthenticated
            case 403: code = .permissionDenied
            case 404: code = .unimplemented
            case 429, 502, 503, 504: code = .unavailable
            default: code = .unknown
            }
            return Status(code: code, message: "Unexpected non-200 HTTP Status Code (\(status.isEmpty ? "none" : status)).")
        }
        guard let type = headers.first(name: "content-type"), type.hasPrefix("application/grpc") else {
            return Status(code: .internalError, message: "The response's content-type is not application/grpc.")
        }
        return nil
    }

    /// The status in a response's trailers (or trailers-only headers): `grpc-status` (missing or not a
    /// code → UNKNOWN) and the percent-decoded `grpc-message`.
    static func trailerStatus(_ headers: HPACKHeaders) -> Status {
        guard let raw = headers.first(name: "grpc-status"), let value = Int(raw), let code = Status.Code(rawValue: value) else {
            return Status(code: .unknown, message: "The response's trailers have no valid grpc-status.")
        }
        return Status(code: code, message: headers.first(name: "grpc-message").map(percentDecoded) ?? "")
    }

    /// The inverse of ``percentEncoded(_:)``: `%XX` sequences back to bytes (a malformed one is kept as is).
    static func percentDecoded(_ message: String) -> String {
        let utf8 = Array(message.utf8)
        guard utf8.contains(0x25) else { return message }
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            case 0x61...0x66: return b - 0x61 + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count)
        var i = 0
        while i < utf8.count {
            if utf8[i] == 0x25, i + 2 < utf8.count, let hi = hex(utf8[i + 1]), let lo = hex(utf8[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The code a stream reset by the peer (or by HTTP/2 itself) ends a call with, per gRPC's document
    /// (`RST_STREAM` error code → status code).
    static func code(resetBy reason: HTTP2ErrorCode) -> RPCError.Code {
        switch reason {
        case .refusedStream: return .unavailable
        case .cancel: return .cancelled
        case .enhanceYourCalm: return .resourceExhausted
        case .inadequateSecurity: return .permissionDenied
        default: return .internalError
        }
    }
}
