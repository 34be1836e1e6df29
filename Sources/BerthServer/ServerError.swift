import BerthEngine
import BerthProtocol
import BerthRegistry
import HTTPTypes
import Hummingbird

/// Every way a request to the server can fail. Each case maps to one HTTP status and to the V2
/// error body `{"error": "..."}`; the message names the problem (input, model, limit).
public enum ServerError: Error, CustomStringConvertible, Sendable {
    /// The request is malformed or does not fit the model (JSON, dtype, shape, size, names).
    case badRequest(String)
    /// No model of this name is known.
    case modelNotFound(String)
    /// The model is known but has no such version.
    case versionNotFound(model: String, version: String)
    /// The model (version) exists but cannot serve right now (loading, unloading, failed).
    case notReady(model: String, version: String?, state: String)
    /// The model's batching queue is at capacity.
    case queueFull(model: String, version: String, capacity: Int)
    /// The request body exceeds the server's `--max-body-size`.
    case bodyTooLarge(limit: Int)
    /// Loading a model from the repository failed; the previous versions keep serving.
    case loadFailed(model: String, reason: String)
    /// The operation is not allowed in the server's current mode (e.g. load with `--model-control none`).
    case notAllowed(String)
    /// The server is shutting down and takes no new work.
    case shuttingDown
    /// Running the model failed for a reason that is not the caller's input.
    case inferenceFailed(String)
    /// A registry model's version that no alias points at (only aliased versions are served).
    case versionNotDeployed(model: String, version: String)
    /// A registry model has no `production` version to route requests without a version to.
    case noProduction(model: String)
    /// A registry operation failed.
    case registry(RegistryError)
    /// No usable key came with the request (401 / UNAUTHENTICATED); the message says how to get one.
    case unauthenticated(String)
    /// The key's role may not do this (403 / PERMISSION_DENIED).
    case forbidden(String)
    /// A tenant's quota is used up (429 / RESOURCE_EXHAUSTED); retry after the given seconds.
    case rateLimited(String, retryAfter: Double)
    /// The access store cannot be read (503 / UNAVAILABLE).
    case authUnavailable(String)
    /// The request did not arrive in time (408).
    case requestTimeout(String)
    /// Something else the request names does not exist (a reference sample, say); the message says what.
    case notFound(String)

    /// The HTTP status this error is reported with.
    public var status: HTTPResponse.Status {
        switch self {
        case .badRequest, .loadFailed, .notAllowed: return .badRequest
        case .modelNotFound, .versionNotFound, .versionNotDeployed, .notFound: return .notFound
        case .notReady, .queueFull, .shuttingDown: return .serviceUnavailable
        case .bodyTooLarge: return .contentTooLarge
        case .inferenceFailed: return .internalServerError
        case .noProduction, .authUnavailable: return .serviceUnavailable
        case .unauthenticated: return .unauthorized
        case .forbidden: return .forbidden
        case .rateLimited: return .tooManyRequests
        case .requestTimeout: return .requestTimeout
        case let .registry(e):
            switch e {
            case .modelNotFound, .versionNotFound, .aliasNotFound: return .notFound
            case .invalidName, .invalidModel, .badInput: return .badRequest
            case .signatureChanged, .gateFailed, .conflict: return .conflict
            case .untrusted: return .forbidden
            case .corruptArtifact, .storage: return .internalServerError
            case .unavailable: return .serviceUnavailable
            }
        }
    }

    /// The reason label used in metrics.
    public var failureReason: FailureReason {
        switch self {
        case .badRequest, .loadFailed, .notAllowed: return .badRequest
        case .modelNotFound, .versionNotFound, .versionNotDeployed, .notFound: return .notFound
        case .notReady, .shuttingDown: return .notReady
        case .queueFull: return .queueFull
        case .bodyTooLarge: return .tooLarge
        case .inferenceFailed: return .internalError
        case .noProduction, .authUnavailable: return .notReady
        case .unauthenticated, .forbidden: return .denied
        case .rateLimited: return .rateLimited
        case .requestTimeout: return .timeout
        case let .registry(e): return e.isClientError ? .badRequest : .internalError
        }
    }

    public var description: String {
        switch self {
        case let .badRequest(m): return m
        case let .modelNotFound(m): return "unknown model '\(m)'"
        case let .versionNotFound(m, v): return "unknown version '\(v)' of model '\(m)'"
        case let .notReady(m, v, state):
            return "model '\(m)'" + (v.map { " version \($0)" } ?? "") + " is not ready (\(state))"
        case let .queueFull(m, v, cap): return "queue full: model '\(m)' version \(v) already has \(cap) pending requests"
        case let .bodyTooLarge(limit): return "request body exceeds the limit of \(limit) bytes"
        case let .loadFailed(m, why): return "failed to load model '\(m)': \(why)"
        case let .notAllowed(m): return m
        case .shuttingDown: return "server is shutting down"
        case let .inferenceFailed(m): return "inference failed: \(m)"
        case let .versionNotDeployed(m, v):
            return "version \(v) of model '\(m)' is not served: only versions an alias points at are loaded "
                + "(if it is in the registry, alias it: berth registry alias \(m) staging \(v))"
        case let .noProduction(m):
            return "model '\(m)' has no production version (promote one: berth registry promote \(m) VERSION); "
                + "its other aliased versions are served at /v2/models/\(m)/versions/N"
        case let .registry(e): return e.description
        case let .notFound(m): return m
        case let .unauthenticated(m), let .forbidden(m), let .rateLimited(m, _), let .authUnavailable(m), let .requestTimeout(m): return m
        }
    }

    /// Maps any error to the server's: engine input problems and protocol errors are the caller's
    /// (400), registry errors keep their meaning, anything else is an internal failure (500).
    public static func from(engine error: Error) -> ServerError {
        if let s = error as? ServerError { return s }
        if let p = error as? V2RequestError { return .badRequest(p.message) }
        if let r = error as? RegistryError { return .registry(r) }
        if let e = error as? EngineError {
            switch e {
            case .unknownInput, .missingInput, .inputDType, .inputShape, .kernel, .valueKind: return .badRequest(e.description)
            default: return .inferenceFailed(e.description)
            }
        }
        return .inferenceFailed("\(error)")
    }
}

extension ServerError: HTTPResponseError {
    /// The V2 error body `{"error": "..."}` with ``status``: routes throw, never format errors.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        ResponseFactory.error(self)
    }
}
