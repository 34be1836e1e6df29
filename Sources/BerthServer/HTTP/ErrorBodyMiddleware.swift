import HTTPTypes
import Hummingbird

/// Gives the router's own errors (no such route, method not allowed) the V2 error body
/// `{"error": "..."}` that every Berth route uses, instead of an empty response.
struct ErrorBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError where e.status == .notFound || e.status == .methodNotAllowed {
            var w = JSONWriter(capacity: 64)
            w.raw("{\"error\":")
            let what = e.status == .notFound ? "no route" : "method not allowed"
            w.string("\(what): \(request.method) \(request.uri.path)")
            w.byte(0x7D)
            return ResponseFactory.json(w, status: e.status)
        }
    }
}
