import GRPCCore

extension ServerError {
    /// The gRPC status this error is reported with: the gRPC twin of ``status``, so a client sees
    /// the same class of failure over both protocols (bad input, unknown model, not ready or queue
    /// full, too large, internal).
    var rpcCode: RPCError.Code {
        switch status.code {
        case 401: return .unauthenticated
        case 403: return .permissionDenied
        case 429: return .resourceExhausted
        case 400: return .invalidArgument
        case 404: return .notFound
        case 503: return .unavailable
        case 413: return .resourceExhausted
        case 409: return .failedPrecondition
        case 408: return .deadlineExceeded
        default: return .internalError
        }
    }

    /// The error as gRPC sends it; the message is the one the REST body carries.
    var rpcError: RPCError { RPCError(code: rpcCode, message: description) }
}
