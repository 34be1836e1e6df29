import BerthRegistry
import Hummingbird

/// Lets the admin and repository routes throw: a ``ServerError``, a `RegistryError` or any other
/// error becomes the V2 error body `{"error": "..."}` with its status (``ServerError/status``).
/// Hummingbird's own errors (a missing route parameter …) keep their rendering.
struct RouteErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            if !(error is ServerError), !(error is RegistryError), error is any HTTPResponseError { throw error }
            return ResponseFactory.error(ServerError.from(engine: error))
        }
    }
}
