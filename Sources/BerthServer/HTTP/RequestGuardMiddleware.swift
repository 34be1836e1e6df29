import BerthProtocol
import HTTPTypes
import Hummingbird

/// Checks what every request must get right before any route sees it:
/// - framing Berth understands: no `Transfer-Encoding` other than `chunked`;
/// - a `Host` header (HTTP/1.1 requires one) naming an allowed host: a server bound to loopback
///   answers only loopback names, so a web page cannot reach it through DNS rebinding;
/// - a request body of a type a browser cannot send cross-site without a CORS preflight:
///   `text/plain`, `application/x-www-form-urlencoded` and `multipart/form-data` are refused (415),
///   so a page on another site cannot make a visitor's browser push a model or run inference.
struct RequestGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Allowed host names (lowercase, without port); nil allows any.
    let allowedHosts: Set<String>?

    /// The media types a browser may send cross-site without asking first (the Fetch standard's
    /// CORS-safelisted `Content-Type` values).
    static var simpleContentTypes: Set<String> { ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authority = request.head.authority, !authority.isEmpty else {
            return ResponseFactory.error("the request has no Host header", status: .badRequest)
        }
        guard let host = Self.hostName(authority) else {
            return ResponseFactory.error("malformed Host header '\(authority)'", status: .badRequest)
        }
        if let allowedHosts, !allowedHosts.contains(host) {
            return ResponseFactory.error("host '\(host)' is not served here (allowed: "
                                                    + allowedHosts.sorted().joined(separator: ", ") + "; see --allowed-hosts)",
                                        status: .misdirectedRequest)
        }
        if let te = request.headers[.transferEncoding], te.lowercased() != "chunked" {
            // Only chunked framing is understood; a coded body (gzip, ...) would be read as garbage.
            return ResponseFactory.error("Transfer-Encoding '\(te)' is not supported (only chunked)",
                                        status: .badRequest)
        }
        if request.method == .post || request.method == .put || request.method == .patch,
           let type = request.headers[.contentType] {
            let media = type.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            if Self.simpleContentTypes.contains(media) {
                return ResponseFactory.error("Content-Type \(media) is not accepted: send application/json "
                                                        + "(or application/octet-stream for binary tensors and model files)",
                                            status: .unsupportedMediaType)
            }
        }
        return try await next(request, context)
    }

    /// The host part of a `Host` value, lowercased: `name`, `name:port`, `[v6]` or `[v6]:port`.
    static func hostName(_ authority: String) -> String? {
        var a = Substring(authority.lowercased())
        if a.hasPrefix("[") {
            guard let close = a.firstIndex(of: "]") else { return nil }
            let rest = a[a.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isNumber) && rest.count > 1) else { return nil }
            return String(a[...close])
        }
        if let colon = a.lastIndex(of: ":") {
            let port = a[a.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy(\.isNumber) else { return nil }
            a = a[..<colon]
        }
        guard !a.isEmpty, a.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else { return nil }
        return String(a)
    }

    /// The names a loopback-bound server answers to.
    static var loopbackNames: Set<String> { ["localhost", "127.0.0.1", "[::1]"] }

    /// Whether `host` (a bind address) is a loopback address.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
