import BerthProtocol
import HTTPTypes
import Hummingbird

/// Gives every error that escapes a route the V2 error body `{"error": "..."}`: the router's own
/// (no such route, method not allowed) and any error that is not a ``ServerError`` (which renders
/// itself), so no route answers with an empty body.
struct ErrorBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as ServerError {
            throw e
        } catch let e as HTTPError where e.status == .notFound || e.status == .methodNotAllowed {
            let what = e.status == .notFound ? "no route" : "method not allowed"
            return ResponseFactory.error("\(what): \(request.method) \(request.uri.path)", status: e.status)
        } catch let e as HTTPError {
            return ResponseFactory.error(e.body ?? "\(e.status)", status: e.status)
        } catch let e as HTTPResponseError {
            return ResponseFactory.error("\(e)", status: e.status)
        } catch {
            return ResponseFactory.error(.from(engine: error))
        }
    }
}
