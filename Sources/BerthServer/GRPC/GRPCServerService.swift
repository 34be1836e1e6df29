import Foundation
import GRPCCore
import GRPCNIOTransportCore
import GRPCNIOTransportHTTP2Posix
import Logging
import ServiceLifecycle

/// Serves ``InferenceGRPCService`` on `--host`:`--grpc-port` (plaintext HTTP/2), as one more
/// ServiceLifecycle service beside the Hummingbird app: on graceful shutdown it stops accepting
/// RPCs and lets the running ones finish, before the model loader drains the models.
struct GRPCServerService: Service {
    let host: String
    let port: Int
    let maxMessageSize: Int
    let service: InferenceGRPCService
    /// The REST listener's certificate: gRPC is served over TLS when it is.
    let tls: FileCertificateReloader?
    /// Told the bound port once the transport listens (or nil when it could not bind).
    let endpoint: GRPCEndpoint
    let logger: Logger

    /// Plaintext, TLS, or mTLS with the REST listener's files.
    private var security: HTTP2ServerTransport.Posix.TransportSecurity {
        get throws {
            guard let tls else { return .plaintext }
            if let ca = tls.files.clientCA {
                return try .mTLS(certificateReloader: tls) { $0.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
            }
            return try .tls(certificateReloader: tls)
        }
    }

    /// Which transport serves plaintext gRPC: ``FastGRPCServerTransport`` (no per-stream child
    /// channel; the default, bench/RESULTS.md) or, with `BERTH_GRPC_TRANSPORT=nio`, grpc-swift-nio-transport's.
    /// TLS always uses `nio`.
    static var transportChoice: String { ProcessInfo.processInfo.environment["BERTH_GRPC_TRANSPORT"] ?? "fast" }

    func run() async throws {
        if tls == nil && Self.transportChoice == "fast" {
            let bindHost = host == "localhost" ? "127.0.0.1" : host.trimmingCharacters(in: ["[", "]"])
            // BERTH_GRPC_FAST_EXECUTOR=global runs handlers on Swift's global executor instead of the connection's loop.
            let onLoop = ProcessInfo.processInfo.environment["BERTH_GRPC_FAST_EXECUTOR"] != "global"
            let transport = FastGRPCServerTransport(host: bindHost, port: port, maxMessageSize: maxMessageSize, onLoop: onLoop)
            try await serve(GRPCServer(transport: transport, services: [service])) { await transport.boundPort }
            return
        }
        let transport = HTTP2ServerTransport.Posix(
            address: Self.address(host: host, port: port), transportSecurity: try security,
            config: .defaults {
                $0.rpc.maxRequestPayloadSize = maxMessageSize
                // Inference is latency-bound: flush each response at once rather than coalescing
                // flushes for up to 100 µs (measured: +0.5 ms per RPC at concurrency 1).
                $0.connection.flushCoalescing = nil
            })
        // The address is known once the transport has bound (it throws if binding failed).
        try await serve(GRPCServer(transport: transport, services: [service])) { try? await transport.listeningAddress.port }
    }

    /// Runs `server` until graceful shutdown, telling ``endpoint`` the port `boundPort` reports.
    private func serve<T: ServerTransport>(_ server: GRPCServer<T>, boundPort: @escaping @Sendable () async -> Int?) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                do { try await server.serve() } catch {
                    endpoint.bound(nil)
                    throw error
                }
            }
            group.addTask {
                if let port = await boundPort() { endpoint.bound(port) }
            }
            try? await gracefulShutdown()
            server.beginGracefulShutdown()
        }
    }

    /// The transport address for a `--host` value: an IPv6 literal, or IPv4 (`localhost` is 127.0.0.1).
    static func address(host: String, port: Int) -> GRPCNIOTransportCore.SocketAddress {
        if host.contains(":") { return .ipv6(host: host.trimmingCharacters(in: ["[", "]"]), port: port) }
        return .ipv4(host: host == "localhost" ? "127.0.0.1" : host, port: port)
    }
}

extension GRPCNIOTransportCore.SocketAddress {
    /// The port of an IP address.
    var port: Int? { ipv4?.port ?? ipv6?.port }
}

/// The gRPC server's bound port, awaited by the REST server's `listening` log line so one line
/// reports both (with `--grpc-port 0` only the bind tells which port it is).
final class GRPCEndpoint: Sendable {
    private let state = Locked<(port: Int??, waiters: [CheckedContinuation<Int?, Never>])>((nil, []))

    /// Records the bound port (nil: not bound) and wakes every waiter; later calls are ignored.
    func bound(_ port: Int?) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int?, Never>] in
            guard s.port == nil else { return [] }
            s.port = .some(port)
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: port) }
    }

    /// The bound port, once the transport has tried to bind.
    func port() async -> Int? {
        await withCheckedContinuation { c in
            let known = state.withLock { s -> Int?? in
                if let p = s.port { return .some(p) }
                s.waiters.append(c)
                return nil
            }
            if let known { c.resume(returning: known) }
        }
    }
}
