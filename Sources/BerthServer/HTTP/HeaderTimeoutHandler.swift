import NIOCore
import NIOHTTPTypes

/// Closes a connection whose first request head is not complete within the header timeout of
/// the connection opening (a slow-loris client sending its headers a byte at a time). Later
/// requests on a kept-alive connection are bounded by the idle timeout, which Hummingbird's
/// connection handler applies from the end of each response until the next request head.
final class HeaderTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private var scheduled: Scheduled<Void>?
    private var sawHead = false

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { schedule(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        schedule(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { cancel() }

    func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !sawHead, case .head = unwrapInboundIn(data) {
            sawHead = true
            cancel()
        }
        context.fireChannelRead(data)
    }

    private func schedule(_ context: ChannelHandlerContext) {
        guard scheduled == nil, !sawHead else { return }
        scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard !sawHead else { return }
            context.close(promise: nil)
        }
    }

    private func cancel() {
        scheduled?.cancel()
        scheduled = nil
    }
}
