import BerthRegistry
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import Logging
import ServiceLifecycle

/// The Berth model server: a Hummingbird application serving the Open Inference Protocol over a
/// ``ModelManager``. ``run()`` serves until SIGTERM or SIGINT, then stops accepting connections,
/// finishes in-flight requests, drains every model and returns.
public struct BerthHTTPServer: Sendable {
    /// The server version reported by `GET /v2`.
    public static let version = "0.1.0"

    public let manager: ModelManager
    public let metrics: ServerMetrics
    public let configuration: ServerConfiguration
    /// Language models served through the OpenAI-compatible API (`berth serve --llm`).
    public var llm: LLMModels?
    public let logger: Logger
    /// Set when the server serves a model registry (`berth serve --registry`).
    public let deployer: RegistryDeployer?
    /// The request path every inference takes, whatever protocol carried it.
    public let service: InferenceService
    /// The prediction log, live metrics and alert rules; nil when monitoring is off.
    public let monitoring: Monitoring?
    /// Who may do what; open (everyone is admin) unless built over an ``AccessStore``.
    public let access: AccessControl
    /// This replica's id and address (`GET /api/v1/cluster`, heartbeats in a shared registry).
    public let identity = ReplicaIdentity()

    /// A server of `manager`'s models; with a `deployer`, the registry decides what is served and
    /// the admin API is mounted under `/api/v1`. `observers` see every request after the standard
    /// ones (statistics, metrics, shadow mirroring), then `monitoring`'s.
    public init(manager: ModelManager, configuration: ServerConfiguration, deployer: RegistryDeployer? = nil,
                observers: [any InferenceObserver] = [], monitoring: Monitoring? = nil,
                access: AccessControl = AccessControl(store: nil), logger: Logger = Logger(label: "berth.server")) {
        self.manager = manager
        self.access = access
        self.monitoring = monitoring
        // Quotas first among the deciding hooks: a refused request reaches no other observer's work.
        let quotas: [any InferenceObserver] = access.store.map { [QuotaObserver(store: $0, metrics: manager.metrics)] } ?? []
        self.service = InferenceService(manager: manager,
                                        observers: quotas + InferenceService.standardObservers(metrics: manager.metrics) + observers
                                            + (monitoring.map { [$0.observer] } ?? []))
        self.deployer = deployer
        self.metrics = manager.metrics
        self.configuration = configuration
        self.logger = logger
    }

    /// Which routes a listener serves.
    public enum RouterPart: Sendable {
        /// Every route (one listener).
        case all
        /// Health, server and model metadata, inference, feedback: what clients of a model call.
        case inference
        /// The admin API, repository control, monitoring reads, the dashboard and `/metrics`
        /// (``ServerConfiguration/adminPort``).
        case admin
    }

    /// The router with the routes of `part`.
    public func makeRouter(_ part: RouterPart = .all) -> Router<BerthRequestContext> {
        let router = Router(context: BerthRequestContext.self)
        router.add(middleware: ErrorBodyMiddleware())
        router.add(middleware: RequestGuardMiddleware(allowedHosts: configuration.effectiveAllowedHosts))
        router.add(middleware: AuthMiddleware(access: access))
        let monitor = monitoring.map { MonitorRoutes(monitoring: $0, manager: manager, registry: deployer?.registry) }
        if part != .admin, let llm { OpenAIRoutes(models: llm, configuration: configuration, metrics: LLMMetrics(registry: metrics.registry),
                                                      observers: service.observers.filter { $0 is QuotaObserver || $0 is AccessLog },
                                                      log: monitoring?.log).register(on: router) }
        if part != .admin {
            EmbeddingRoutes(manager: manager, configuration: configuration,
                            observers: service.observers.filter { $0 is QuotaObserver || $0 is AccessLog }).register(on: router)
        }
        if part != .admin {
            V2Routes(manager: manager, service: service, metrics: metrics, configuration: configuration).register(on: router)
            monitor?.registerFeedback(on: router)
        }
        if part != .inference {
            RepositoryRoutes(manager: manager, configuration: configuration).register(on: router)
            if let deployer { AdminRoutes(deployer: deployer, configuration: configuration).register(on: router) }
            if let deployer { ClusterRoutes(deployer: deployer, identity: identity).register(on: router) }
            monitor?.register(on: router)
            DashboardRoutes(manager: manager, monitoring: monitoring, registry: deployer?.registry).register(on: router)
            MetricsRoutes(metrics: metrics).register(on: router)
            LoggingRoutes(settings: LogSettings.shared).register(on: router)
            TraceRoutes(settings: TraceSettings.shared).register(on: router)
        }
        return router
    }

    /// The application: routes, plus the service that loads models (and polls the repository),
    /// and the gRPC server when ``ServerConfiguration/grpcPort`` is set (shut down before the
    /// models are drained, like the REST server). `onListening` receives the bound REST port
    /// (useful with port 0); the `listening` log line also names the bound gRPC port.
    public func makeApplication(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let logger = self.logger, identity = self.identity
        var services: [any Service] = [deployer.map { RegistryService(deployer: $0, configuration: configuration, logger: logger) as any Service }
                                       ?? ModelLoaderService(manager: manager, configuration: configuration, logger: logger)]
        if let deployer, let coordinator = deployer.registry as? any ClusterCoordinator {
            services.append(ClusterService(coordinator: coordinator, deployer: deployer, identity: identity,
                                           interval: configuration.pollInterval, logger: Logger(label: "berth.server.cluster")))
        }
        if let monitoring, !monitoring.alerts.isEmpty {
            services.append(AlertService(monitoring: monitoring, manager: manager, deployer: deployer,
                                         interval: configuration.alertInterval, logger: Logger(label: "berth.server.alerts")))
        }
        if let monitoring, let window = monitoring.clusterWindow {
            services.append(RequestCountService(window: window, interval: .seconds(1), logger: Logger(label: "berth.server.alerts")))
        }
        if let monitoring, monitoring.log != nil, let interval = configuration.driftInterval {
            services.append(DriftService(monitoring: monitoring, manager: manager, interval: interval))
        }
        let grpc = configuration.grpcPort.map { _ in GRPCEndpoint() }
        if let grpcPort = configuration.grpcPort, let endpoint = grpc {
            // Last of the extra services: ServiceGroup stops them in reverse, so the gRPC server
            // finishes its RPCs before the loader drains the models.
            services.append(GRPCServerService(
                host: configuration.host, port: grpcPort, maxMessageSize: configuration.maxBodySize,
                service: InferenceGRPCService(manager: manager, service: service, configuration: configuration, access: access),
                tls: configuration.tls, endpoint: endpoint, logger: Logger(label: "berth.server.grpc")))
        }
        if let tls = configuration.tls { services.append(CertificateReloadService(reloader: tls, logger: logger)) }
        let http1 = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [HeaderTimeoutHandler(timeout: TimeAmount(configuration.headerTimeout))],
            idleTimeout: TimeAmount(configuration.idleTimeout)))
        let server = try configuration.tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: try $0.serverConfiguration()) } ?? http1
        if let adminPort = configuration.adminPort {
            // The admin listener is one more service: stopped (after its requests finish) before the models drain.
            let host = configuration.adminHost ?? configuration.host
            services.append(Application(
                router: makeRouter(.admin), server: server,
                configuration: .init(address: .hostname(host, port: adminPort), serverName: "berth"),
                onServerRunning: { channel in
                    logger.notice("admin listening", metadata: ["host": "\(host)", "port": "\(channel.localAddress?.port ?? 0)"])
                },
                logger: logger))
        }
        return Application(
            router: makeRouter(configuration.adminPort == nil ? .all : .inference),
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "berth"),
            services: services,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                identity.address = "\(configuration.host):\(port)"
                var metadata: Logger.Metadata = ["host": "\(configuration.host)", "port": "\(port)"]
                if let grpc {
                    if let grpcPort = await grpc.port() { metadata["grpc_port"] = "\(grpcPort)" } else {
                        logger.error("gRPC server could not listen", metadata: ["grpc_port": "\(configuration.grpcPort ?? 0)"])
                    }
                }
                logger.notice("listening", metadata: metadata)
                await onListening(port)
            },
            logger: logger
        )
    }

    /// Serves until SIGTERM/SIGINT, then shuts down gracefully.
    public func run() async throws {
        try await makeApplication().runService(gracefulShutdownSignals: [.sigterm, .sigint])
        // Records still batched in memory are written before the process exits.
        monitoring?.log?.flush()
        logger.notice("server stopped")
    }
}

/// Loads the startup models through a ``RepositorySource``, polls the repository in `.poll`
/// mode, and on graceful shutdown (after the HTTP server has finished its in-flight requests)
/// drains every model.
struct ModelLoaderService: Service {
    let manager: ModelManager
    let configuration: ServerConfiguration
    let logger: Logger

    func run() async throws {
        let source = manager.repository.map { RepositorySource(repository: $0, manager: manager, logger: logger) }
        switch configuration.modelControl {
        case .none:
            await source?.loadAll()
        case .poll:
            await source?.poll()  // first look: remembers fingerprints
            await source?.loadAll()
        case .explicit:
            if configuration.startupModels.contains("*") {
                await source?.loadAll()
            } else {
                for name in configuration.startupModels {
                    do { try await source?.load(name) } catch {
                        logger.error("model failed to load", metadata: ["model": "\(name)", "error": "\(error)"])
                    }
                }
            }
        }
        manager.markStarted()
        logger.notice("models loaded", metadata: ["ready": "\(manager.index().filter { $0.state == .ready }.map { "\($0.name):\($0.version ?? 0)" })"])
        if configuration.modelControl == .poll {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.pollInterval) }
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                await source?.poll()
            }
        } else {
            try? await gracefulShutdown()
        }
        await manager.shutdown()
    }
}

/// Deploys the registry's aliased versions at startup, follows the registry's changes every
/// poll interval, and on graceful shutdown drains every model.
struct RegistryService: Service {
    let deployer: RegistryDeployer
    let configuration: ServerConfiguration
    let logger: Logger

    func run() async throws {
        do { try await deployer.sync(force: true) } catch {
            logger.error("registry sync failed", metadata: ["error": "\(error)"])
        }
        let manager = deployer.manager
        manager.markStarted()
        logger.notice("models loaded", metadata: ["ready": "\(manager.index().filter { $0.state == .ready }.map { "\($0.name):\($0.version ?? 0)" })"])
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // A LISTEN notification (shared registry) ends the wait early.
            try? await cancelWhenGracefulShutdown { await deployer.changes.wait(upTo: configuration.pollInterval) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            do { try await deployer.sync() } catch {
                logger.error("registry sync failed", metadata: ["error": "\(error)"])
            }
        }
        await manager.shutdown()
    }
}
