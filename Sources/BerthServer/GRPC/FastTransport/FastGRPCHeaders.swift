import Foundation
import GRPCCore
import NIOHPACK

/// The gRPC-over-HTTP/2 header rules the fast transport applies, as grpc-swift-nio-transport's
/// server state machine applies them: request validation, request headers → `Metadata`, and the
/// response headers and trailers (gRPC's HTTP/2 protocol document).
enum FastGRPCHeaders {
    /// What a request's HEADERS frame asks for: a call, or an answer without running anything.
    enum Request {
        case call(MethodDescriptor, Metadata)
        /// Refused before any handler runs: these headers end the stream (trailers-only or HTTP 415).
        case reject(HPACKHeaders)
    }

    /// Validates a request's headers the way grpc-swift-nio-transport does (content-type → HTTP
    /// 415; `:path`, `:scheme`, `:method` → INVALID_ARGUMENT; a compressed request → UNIMPLEMENTED,
    /// as no compression is enabled) and finds its method.
    static func request(_ headers: HPACKHeaders, methods: [String: MethodDescriptor]) -> Request {
        guard let contentType = headers.first(name: "content-type"), contentType.hasPrefix("application/grpc") else {
            var h = HPACKHeaders()
            h.add(name: ":status", value: "415")
            return .reject(h)
        }
        guard let path = headers.first(name: ":path") else {
            return .reject(trailers(Status(code: .invalidArgument, message: "No :path header has been set."), trailersOnly: true))
        }
        guard let scheme = headers.first(name: ":scheme"), scheme == "http" || scheme == "https" else {
            return .reject(trailers(Status(code: .invalidArgument, message: ":scheme header must be present and one of \"http\" or \"https\"."),
                                    trailersOnly: true))
        }
        guard headers.first(name: ":method") == "POST" else {
            return .reject(trailers(Status(code: .invalidArgument, message: ":method header is expected to be present and have a value of \"POST\"."),
                                    trailersOnly: true))
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            return .reject(trailers(Status(code: .unimplemented,
                                           message: "\(encoding) compression is not supported; supported algorithms are listed in grpc-accept-encoding"),
                                    trailersOnly: true))
        }
        let descriptor: MethodDescriptor
        if let known = methods[path] {
            descriptor = known
        } else {
            // An unknown method still reaches the router, which answers UNIMPLEMENTED (as the NIO transport does).
            let parts = path.dropFirst().split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard path.hasPrefix("/"), parts.count == 2 else {
                return .reject(trailers(Status(code: .unimplemented, message: "Invalid path \(path)"), trailersOnly: true))
            }
            descriptor = MethodDescriptor(fullyQualifiedService: String(parts[0]), method: String(parts[1]))
        }
        return .call(descriptor, metadata(headers))
    }

    /// Every request header as metadata (pseudo-headers included, as grpc-swift-nio-transport does);
    /// `-bin` values base64-decoded.
    static func metadata(_ headers: HPACKHeaders) -> Metadata {
        var metadata = Metadata()
        metadata.reserveCapacity(headers.count)
        for (name, value, _) in headers {
            if name.hasSuffix("-bin"), let bytes = base64Decode(value) {
                metadata.addBinary(bytes, forKey: name)
            } else {
                metadata.addString(value, forKey: name)
            }
        }
        return metadata
    }

    /// The response's initial headers: `:status` 200, the gRPC content-type and the handler's metadata.
    static func response(_ metadata: Metadata) -> HPACKHeaders {
        var headers = HPACKHeaders()
        headers.reserveCapacity(2 + metadata.count)
        headers.add(name: ":status", value: "200")
        headers.add(name: "content-type", value: "application/grpc")
        add(metadata, to: &headers)
        return headers
    }

    /// The trailers that end a response (`trailersOnly`: also the initial headers, when no
    /// metadata was sent before the status).
    static func trailers(_ status: Status, metadata: Metadata = [:], trailersOnly: Bool) -> HPACKHeaders {
        var headers = HPACKHeaders()
        headers.reserveCapacity(4 + metadata.count)
        if trailersOnly {
            headers.add(name: ":status", value: "200")
            headers.add(name: "content-type", value: "application/grpc")
        }
        headers.add(name: "grpc-status", value: String(status.code.rawValue))
        if !status.message.isEmpty { headers.add(name: "grpc-message", value: percentEncoded(status.message)) }
        add(metadata, to: &headers)
        return headers
    }

    private static func add(_ metadata: Metadata, to headers: inout HPACKHeaders) {
        for (key, value) in metadata {
            switch value {
            case .string(let s): headers.add(name: key.lowercased(), value: s)
            case .binary(let b): headers.add(name: key.lowercased(), value: Data(b).base64EncodedString())
            }
        }
    }

    /// `grpc-message`'s encoding: bytes outside printable ASCII, and `%`, as `%XX` of their UTF-8.
    static func percentEncoded(_ message: String) -> String {
        let utf8 = message.utf8
        if utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E && $0 != 0x25 }) { return message }
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(utf8.count * 3)
        for b in utf8 {
            if b >= 0x20 && b <= 0x7E && b != 0x25 {
                out.append(b)
            } else {
                out.append(0x25)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Base64 with or without padding (gRPC senders may omit it).
    static func base64Decode(_ value: String) -> [UInt8]? {
        var s = value
        let rest = s.utf8.count % 4
        if rest == 1 { return nil }
        if rest > 0 { s += String(repeating: "=", count: 4 - rest) }
        return Data(base64Encoded: s).map(Array.init)
    }
}
