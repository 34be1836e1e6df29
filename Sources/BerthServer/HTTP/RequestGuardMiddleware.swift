import BerthProtocol
import HTTPTypes
import Hummingbird

/// Checks what every request must get right before any route sees it:
/// - framing Berth understands: no `Transfer-Encoding` other than `chunked`, no `Content-Encoding`
///   (compressed bodies would be read as garbage);
/// - when the server is restricted to some host names (by default, bound to loopback: loopback
///   names and the bound address), a `Host` header naming one, so a web page cannot reach a local
///   server through DNS rebinding;
/// - no cross-site browser request that changes anything: a POST, PUT, PATCH or DELETE whose
///   `Origin` is another site, or that the browser marks `Sec-Fetch-Site: cross-site` /
///   `same-site`, is refused (403). Browsers send these headers on every such request — with or
///   without a `Content-Type`, with or without a CORS preflight — and other clients (curl,
///   tritonclient, the kserve SDK) send neither, so nothing they do is affected.
struct RequestGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Allowed host names (lowercase, without port); nil allows any.
    let allowedHosts: Set<String>?


    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let te = request.headers[.transferEncoding], te.lowercased() != "chunked" {
            return ResponseFactory.error("Transfer-Encoding '\(te)' is not supported (only chunked)", status: .badRequest)
        }
        if let ce = request.headers[.contentEncoding], ce.lowercased() != "identity" {
            return ResponseFactory.error("Content-Encoding '\(ce)' is not supported: send the body uncompressed",
                                         status: .unsupportedMediaType)
        }
        let host = request.head.authority.flatMap(Self.hostName)
        if let allowedHosts {
            guard let authority = request.head.authority, !authority.isEmpty else {
                return ResponseFactory.error("the request has no Host header", status: .badRequest)
            }
            guard let host else { return ResponseFactory.error("malformed Host header '\(authority)'", status: .badRequest) }
            guard allowedHosts.contains(host) else {
                return ResponseFactory.error("host '\(host)' is not served here (allowed: \(allowedHosts.sorted().joined(separator: ", "))"
                                             + "; see --allowed-hosts)", status: .misdirectedRequest)
            }
        }
        if request.method != .get && request.method != .head && request.method != .options,
           let refusal = crossSiteRefusal(request, host: host) {
            return ResponseFactory.error(refusal, status: .forbidden)
        }
        return try await next(request, context)
    }

    /// Why a browser request from another site is refused; nil when it is not one.
    func crossSiteRefusal(_ request: Request, host: String?) -> String? {
        if let site = request.headers[GuardFields.fetchSite]?.lowercased(), site == "cross-site" || site == "same-site" {
            return "cross-site browser requests may not change anything here (Sec-Fetch-Site: \(site))"
        }
        guard let origin = request.headers[GuardFields.origin] else { return nil }
        // "null" (sandboxed frames, file: pages) and anything unparsable count as foreign.
        let originHost = Self.originHost(origin)
        let allowed = originHost.map { allowedHosts?.contains($0) ?? ($0 == host) } ?? false
        return allowed ? nil : "requests from the web origin '\(origin)' may not change anything here"
    }

    /// The host of an `Origin` value (`scheme://host[:port]`), lowercased.
    static func originHost(_ origin: String) -> String? {
        guard let r = origin.range(of: "://") else { return nil }
        return hostName(String(origin[r.upperBound...]))
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
        if a.hasSuffix(".") { a = a.dropLast() }  // a fully qualified name ("localhost.")
        // ASCII letters, digits, '.', '-', '_' (checked on bytes: this runs on every request).
        guard !a.isEmpty, a.utf8.allSatisfy({ b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2E || b == 0x2D || b == 0x5F
        }) else { return nil }
        return String(a)
    }

    /// A bind address or configured name as it appears in a `Host` header (`::1` → `[::1]`).
    static func normalizedHost(_ name: String) -> String? {
        name.contains(":") && !name.hasPrefix("[") ? hostName("[\(name)]") : hostName(name)
    }

    /// The names a loopback-bound server answers to.
    static var loopbackNames: Set<String> { ["localhost", "127.0.0.1", "[::1]"] }

    /// Whether `host` (a bind address) is a loopback address.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}

/// The header names the guard reads, made once.
enum GuardFields {
    static let origin = HTTPField.Name("Origin")!
    static let fetchSite = HTTPField.Name("Sec-Fetch-Site")!
}
