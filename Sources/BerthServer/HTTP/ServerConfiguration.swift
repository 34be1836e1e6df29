import Hummingbird

/// How the repository's models are loaded and unloaded, as in Triton's `--model-control-mode`.
public enum ModelControl: String, Sendable, CaseIterable {
    /// Load every model at startup; the load/unload API is refused.
    case none
    /// Load only `--load-model` models at startup; clients load and unload through the API.
    case explicit
    /// Load every model at startup and follow the repository: new versions load once their files
    /// stop changing, removed ones unload.
    case poll
}

/// The server's listening address and limits.
public struct ServerConfiguration: Sendable {
    /// Address to bind.
    public var host: String
    /// Port to bind (0 picks a free port; ``BerthHTTPServer`` reports the bound one).
    public var port: Int
    /// The gRPC port beside the REST one, on the same host (0 picks a free port; the `listening`
    /// log line reports it); nil serves no gRPC.
    public var grpcPort: Int?
    /// Largest accepted request body in bytes; larger bodies get 413 (gRPC: the largest request
    /// message, larger ones get RESOURCE_EXHAUSTED).
    public var maxBodySize: Int
    /// The model control mode.
    public var modelControl: ModelControl
    /// The repository polling period for `.poll`.
    public var pollInterval: Duration
    /// Models loaded at startup in `.explicit` mode (`*` loads all).
    public var startupModels: [String]
    /// Largest model file accepted by the registry's push endpoint, in bytes.
    public var maxModelSize: Int = 4 << 30
    /// A connection that completes no request for this long is closed: between requests on a
    /// kept-alive connection, and while a request's body stalls.
    public var idleTimeout: Duration = .seconds(60)
    /// A new connection must send a complete request head within this time (slow-loris clients
    /// that dribble their headers are cut off).
    public var headerTimeout: Duration = .seconds(10)
    /// An inference request's whole body must arrive within this (408 otherwise).
    public var bodyTimeout: Duration = .seconds(60)
    /// Host names the server answers to (the `Host` header, without port). nil: loopback names when
    /// bound to a loopback address, else any host.
    public var allowedHosts: [String]?
    /// How often alert rules are evaluated.
    public var alertInterval: Duration = .seconds(1)
    /// How often the drift gauges of every monitored model are refreshed (nil: only when asked).
    public var driftInterval: Duration? = .seconds(60)
    /// Serve the admin API, repository control, monitoring reads, the dashboard and `/metrics` on
    /// this port (of ``adminHost``, default ``host``) instead of the inference listener; nil: one listener.
    public var adminPort: Int?
    /// The admin listener's address (default: ``host``).
    public var adminHost: String?
    /// Serve REST and gRPC over TLS with this certificate and key (re-read on SIGHUP); nil: plaintext.
    public var tls: FileCertificateReloader?

    /// Whether `name` can be an entry of ``allowedHosts`` (a host name or address, no port needed).
    public static func isHostName(_ name: String) -> Bool {
        RequestGuardMiddleware<BasicRequestContext>.normalizedHost(name) != nil
    }

    /// The host names ``RequestGuardMiddleware`` lets through; nil: any.
    var effectiveAllowedHosts: Set<String>? {
        typealias Guard = RequestGuardMiddleware<BasicRequestContext>
        if let allowedHosts {
            return allowedHosts.contains("*") ? nil : Set(allowedHosts.compactMap(Guard.normalizedHost))
        }
        guard Guard.isLoopback(host) else { return nil }
        return Guard.loopbackNames.union([Guard.normalizedHost(host)].compactMap { $0 })
    }

    public init(host: String = "127.0.0.1", port: Int = 8000, maxBodySize: Int = 64 << 20,
                modelControl: ModelControl = .none, pollInterval: Duration = .seconds(1), startupModels: [String] = []) {
        self.host = host
        self.port = port
        self.maxBodySize = maxBodySize
        self.modelControl = modelControl
        self.pollInterval = pollInterval
        self.startupModels = startupModels
    }
}
