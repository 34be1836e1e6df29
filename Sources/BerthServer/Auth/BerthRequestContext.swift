import Hummingbird
import Logging
import NIOCore

/// The request context of Berth's routes: Hummingbird's, plus the caller the auth hook found.
public struct BerthRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``AuthMiddleware`` before any route runs; ``Principal/nobody`` (sees nothing) until then.
    public var principal: Principal = .nobody
    /// The access control that set ``principal``, for the routes' listings.
    public var access: AccessControl?
    /// The peer's address, for the audit log.
    public let remoteAddress: SocketAddress?

    public init(source: Source) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Whether the caller may see `model`: listings leave out every model this is false for.
    public func maySee(_ model: String) -> Bool {
        access?.maySee(principal, model: model) ?? false
    }
}
