import ArgumentParser
import BerthMonitor
import BerthRegistry
import BerthServer
import Foundation
import NIOCore
import NIOPosix
import Logging
import ServiceLifecycle

/// `berth serve`: serve a model repository over the Open Inference Protocol (KServe V2).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve ONNX models over the Open Inference Protocol (KServe V2 REST).",
        discussion: """
        The repository follows Triton's layout: REPO/<model>/<version>/model.onnx with an optional \
        REPO/<model>/config.json (max_batch_size, dynamic_batching, instance_count, version_policy, threads). \
        --demo serves the bundled examples (models 'digits' and 'digits_logreg', plus examples/generated/*.onnx when present). \
        SIGTERM or SIGINT stops accepting connections, finishes in-flight requests and exits 0.
        """
    )

    @Option(help: ArgumentHelp("The model repository folder.", valueName: "dir"))
    var modelRepository: String?

    @Flag(help: "Serve the bundled examples from a temporary repository.")
    var demo = false

    @Flag(help: "Serve the model registry in --data-dir: production aliases, canaries, shadows; admin API under /api/v1.")
    var registry = false

    @Option(help: ArgumentHelp("With --registry: the registry's data directory (default: $BERTH_DATA_DIR or ./berth-data).", valueName: "dir"))
    var dataDir: String?

    @Option(help: ArgumentHelp("Keep the registry and keys in this PostgreSQL database, shared by replicas (default: $BERTH_REGISTRY_URL; none: SQLite in --data-dir, which still holds the shared artifacts).", valueName: "postgres://user:pass@host:port/db"))
    var registryUrl: String?

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind (0 picks a free one).")
    var port = 8000

    @Option(help: ArgumentHelp("gRPC port (Open Inference Protocol, tritonclient.grpc) on --host; 0: no gRPC. "
                               + "Default: 8001 with --port 8000, else a free port (the 'listening' log line names it).",
                               valueName: "port"))
    var grpcPort: Int?

    @Option(help: ArgumentHelp("none: load all at startup; explicit: load/unload through the API; poll: follow the repository.",
                               valueName: "none|explicit|poll"))
    var modelControl = "none"

    @Option(help: "Polling period for --model-control poll and --registry, in milliseconds.")
    var pollIntervalMs = 1000

    @Option(name: .customLong("load-model"), help: ArgumentHelp("With --model-control explicit: a model to load at startup ('*' for all).", valueName: "name"))
    var loadModels: [String] = []

    @Option(help: "Largest accepted request body in bytes (larger gets 413).")
    var maxBodySize = 64 << 20

    @Option(help: "Close a connection idle this long: between requests, or while a request body stalls (seconds).")
    var idleTimeout = 60.0

    @Option(help: "A new connection must send a complete request head within this many seconds.")
    var headerTimeout = 10.0

    @Option(help: "An inference request's whole body must arrive within this many seconds (else 408).")
    var bodyTimeout = 60.0

    @Option(help: ArgumentHelp("Host names to answer (the Host header; '*' for any). Default: loopback names when bound to loopback, else any.",
                               valueName: "name,..."))
    var allowedHosts: String?

    @Option(help: ArgumentHelp("Write one JSON line per inference request to FILE ('-': standard output).", valueName: "file"))
    var accessLog: String?

    @Option(help: ArgumentHelp("Log this fraction of inference requests (0…1) with inputs and outputs to DATA_DIR/predictions.sqlite, for feedback, live accuracy and berth monitor log.", valueName: "rate"))
    var predictionLogSample = 0.0

    @Option(help: "Prediction log records kept at most (oldest deleted first).")
    var predictionLogMaxRows = 1_000_000

    @Option(help: ArgumentHelp("Prediction log records older than this are deleted (e.g. 7d, 12h, 3600s).", valueName: "age"))
    var predictionLogMaxAge = "30d"

    @Option(name: .customLong("prediction-log-mask"), help: ArgumentHelp("What the prediction log keeps of an input: NAME=drop|hash|keep (repeatable).", valueName: "rule"))
    var predictionLogMasks: [String] = []

    @Option(help: ArgumentHelp("Alert rules (YAML) evaluated every --alert-interval-ms; actions: log, rollback, stop_canary, webhook, retrain.", valueName: "file"))
    var alertRules: String?

    @Option(help: "How often alert rules are evaluated, in milliseconds.")
    var alertIntervalMs = 1000

    @Option(help: "With the prediction log: how often each model's drift against its reference sample refreshes the drift gauges, in milliseconds (0: only when asked).")
    var driftIntervalMs = 60_000

    @Flag(help: "Serve without authentication: anyone who reaches the port may infer, push, promote and load models (logged as a warning).")
    var insecureNoAuth = false

    @Option(help: ArgumentHelp("Also accept bearer JWTs (claims tenant, role, models, exp) signed with this key: an HS256 secret or a PEM public key (ES256, EdDSA, RS256).", valueName: "file"))
    var jwtKey: String?

    @Option(help: ArgumentHelp("With --jwt-key: the required `iss` claim.", valueName: "issuer"))
    var jwtIssuer: String?

    @Option(help: ArgumentHelp("With --jwt-key: an audience the `aud` claim must include.", valueName: "audience"))
    var jwtAudience: String?

    @Option(help: ArgumentHelp("Serve the admin API (/api/v1), repository control, the dashboard and /metrics on this port instead of --port (0: a free port).", valueName: "port"))
    var adminPort: Int?

    @Option(help: ArgumentHelp("With --admin-port: the address it binds (default: --host).", valueName: "host"))
    var adminHost: String?

    @Option(help: ArgumentHelp("Serve REST and gRPC over TLS with this PEM certificate chain (re-read on SIGHUP).", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("Require client certificates signed by this PEM CA bundle (mutual TLS).", valueName: "file"))
    var tlsClientCa: String?

    @Option(help: ArgumentHelp("With --registry: encrypt new artifacts at rest with this AES-256 key and read encrypted ones (default: $BERTH_ARTIFACT_KEY).", valueName: "file"))
    var artifactKey: String?

    @Flag(help: "With --registry: push and load only versions signed by a --trusted-key (berth registry sign).")
    var requireSigned = false

    @Option(name: .customLong("trusted-key"), help: ArgumentHelp("An Ed25519 public key whose signatures --require-signed accepts (repeatable).", valueName: "file"))
    var trustedKeys: [String] = []

    @Option(help: "Default intra-op threads per model (a model's config.json 'threads' overrides it).")
    var threads = 1

    @Option(help: ArgumentHelp("Log level.", valueName: "trace|debug|info|notice|warning|error"))
    var logLevel = "info"

    // Triton / KServe drop-in options.
    @Option(help: ArgumentHelp("Triton's strict readiness: /v2/health/ready and gRPC ServerReady answer not ready while any model that should serve failed to load; false: ready once startup loading finished.",
                               valueName: "true|false"))
    var strictReadiness = true

    @Option(help: ArgumentHelp("Export OpenTelemetry traces of every inference (infer → decode, queue, compute, encode; W3C traceparent honoured) to this OTLP collector URL.",
                               valueName: "url"))
    var otelEndpoint: String?

    @Option(help: ArgumentHelp("OTLP protocol for --otel-endpoint.", valueName: "http/protobuf|http/json|grpc"))
    var otelProtocol = "http/protobuf"

    @Option(name: .customLong("llm"), help: ArgumentHelp("Serve a GGUF language model through the OpenAI API (/v1/chat/completions …) as NAME (repeatable).", valueName: "name=file.gguf"))
    var llm: [String] = []

    @Option(help: ArgumentHelp("KV cache memory per --llm model, in MiB.", valueName: "mib"))
    var llmKvCacheMb = 256

    @Option(help: ArgumentHelp("Memory all language models may take together (each: its mapped GGUF file + its KV cache), in MiB; a load over it is refused.", valueName: "mib"))
    var llmMemoryBudget: Int?

    func validate() throws {
        // With --llm alone there is no ONNX model source: the OpenAI API serves the language models.
        guard [demo, modelRepository != nil, registry].filter({ $0 }).count == 1
            || (!llm.isEmpty && !demo && modelRepository == nil && !registry) else {
            throw ValidationError("give exactly one of --model-repository, --demo and --registry (or only --llm)")
        }
        guard (1...1 << 20).contains(llmKvCacheMb) else { throw ValidationError("--llm-kv-cache-mb must be 1...1048576") }
        if let b = llmMemoryBudget, !(1...1 << 30).contains(b) { throw ValidationError("--llm-memory-budget must be 1...1073741824 (MiB)") }

        guard ModelControl(rawValue: modelControl) != nil else { throw ValidationError("--model-control must be none, explicit or poll") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard (0...65535).contains(grpcPort ?? 0) else { throw ValidationError("--grpc-port must be 0...65535") }
        guard (0.001...86_400).contains(idleTimeout), (0.001...86_400).contains(headerTimeout), (0.001...86_400).contains(bodyTimeout) else {
            throw ValidationError("--idle-timeout, --header-timeout and --body-timeout must be between 0.001 and 86400 seconds")
        }
        guard pollIntervalMs > 0, maxBodySize > 0, threads > 0 else {
            throw ValidationError("--poll-interval-ms, --max-body-size and --threads must be positive")
        }
        if let allowedHosts {
            for name in allowedHosts.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) })
            where name != "*" && !ServerConfiguration.isHostName(name) {
                throw ValidationError("--allowed-hosts: '\(name)' is not a host name")
            }
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard jwtKey != nil || (jwtIssuer == nil && jwtAudience == nil) else { throw ValidationError("--jwt-issuer and --jwt-audience go with --jwt-key") }
        guard jwtKey == nil || !insecureNoAuth else { throw ValidationError("--jwt-key and --insecure-no-auth contradict each other") }
        guard (0...65535).contains(adminPort ?? 0) else { throw ValidationError("--admin-port must be 0...65535") }
        guard adminHost == nil || adminPort != nil else { throw ValidationError("--admin-host goes with --admin-port") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard tlsClientCa == nil || tlsCert != nil else { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        guard !requireSigned || (registry && !trustedKeys.isEmpty) else {
            throw ValidationError("--require-signed needs --registry and at least one --trusted-key")
        }
        guard trustedKeys.isEmpty || requireSigned else { throw ValidationError("--trusted-key goes with --require-signed") }
    }

    mutating func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        // Handlers follow LogSettings, so POST /v2/logging changes the level of a running server.
        LogSettings.shared.level = level
        LoggingSystem.bootstrap(LogSettings.handler)
        let logger = Logger(label: "berth.server")
        let dir = URL(fileURLWithPath: dataDir ?? ProcessInfo.processInfo.environment["BERTH_DATA_DIR"] ?? "berth-data")
        // Bad rule files and monitoring flags are refused before any port is bound or model loaded.
        var monitor: MonitorSetup?
        try exitTwoOnBadInput { monitor = try monitorSetup(dataDir: dir) }
        let keyStore: (any RegistryStore)?
        var cipher: ArtifactCipher?
        try exitTwoOnBadInput { cipher = try artifactCipher(file: artifactKey) }
        let registryURL = RegistryBackend.url(registryUrl)
        do {
            // PostgreSQL down at start: logged and retried with back-off (10 minutes), then exit 1.
            // With --registry-url the database is opened even without keys or --registry: it holds the shared monitoring state.
            keyStore = insecureNoAuth && !registry && registryURL == nil ? nil
                : try RegistryBackend.openWaiting(url: registryURL, dataDirectory: dir, cipher: cipher, patience: 600,
                                                  logger: Logger(label: "berth.server.registry"))
        } catch let e as RegistryError {
            if case .badInput = e { FileHandle.standardError.write(Data("Error: \(e)\n".utf8)); throw ExitCode(2) }
            throw CLIError("\(e)")
        } catch { throw CLIError("\(error)") }
        // Replicas of a PostgreSQL registry keep the prediction log and alert states in its database.
        try exitTwoOnBadInput { try monitor?.open(shared: (keyStore as? PostgresRegistry)?.url) }
        var jwt: JWTVerifier?
        if let jwtKey {
            do { jwt = try await JWTVerifier.load(keyFile: jwtKey, issuer: jwtIssuer, audience: jwtAudience) } catch {
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        let access = AccessControl(store: insecureNoAuth ? nil : keyStore, jwt: jwt, logger: Logger(label: "berth.server.auth"))
        if insecureNoAuth {
            logger.warning("\(AccessControl.openWarning)")
        } else if (try? keyStore?.hasUsableKeys()) != true {
            logger.warning("no API keys yet: every request but /v2/health/* is refused; create the first admin key with 'berth keys create --tenant admin --role admin --data-dir \(dir.path)\(registryURL == nil ? "" : " --registry-url …")' (or start with --insecure-no-auth)")
        }
        var tracing: (any Service)?
        if let otelEndpoint {
            try exitTwoOnBadInput { tracing = try OTelTracing.bootstrap(endpoint: otelEndpoint, protocol: otelProtocol, logger: Logger(label: "berth.otel")) }
        }
        try await Self.checkPortIsFree(host: host, port: port)
        // Triton's pair (8000, 8001) by default; any other REST port gets a free gRPC port, so
        // servers started side by side on chosen ports never collide on 8001.
        let grpc: Int? = grpcPort.map { $0 == 0 ? nil : $0 } ?? (port == 8000 ? 8001 : 0)
        if let grpc, grpc != 0 { try await Self.checkPortIsFree(host: host, port: grpc) }
        if let adminPort, adminPort != 0 { try await Self.checkPortIsFree(host: adminHost ?? host, port: adminPort) }
        var configuration = ServerConfiguration(host: host, port: port, maxBodySize: maxBodySize,
                                                modelControl: ModelControl(rawValue: modelControl)!,
                                                pollInterval: .milliseconds(pollIntervalMs), startupModels: loadModels)
        configuration.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        configuration.headerTimeout = .milliseconds(Int64(headerTimeout * 1000))
        configuration.bodyTimeout = .milliseconds(Int64(bodyTimeout * 1000))
        configuration.allowedHosts = allowedHosts.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        configuration.alertInterval = .milliseconds(alertIntervalMs)
        configuration.driftInterval = driftIntervalMs > 0 ? .milliseconds(driftIntervalMs) : nil
        configuration.grpcPort = grpc
        configuration.adminPort = adminPort
        configuration.adminHost = adminHost
        // Certificates and trusted keys are read before anything binds: a bad file exits 2.
        try exitTwoOnBadInput {
            if let tlsCert, let tlsKey {
                configuration.tls = try FileCertificateReloader(TLSFiles(certificate: tlsCert, key: tlsKey, clientCA: tlsClientCa))
            }
        }
        var trust: ArtifactTrust?
        if requireSigned { try exitTwoOnBadInput { trust = ArtifactTrust(keys: try trustedKeys.map(readPublicKey)) } }
        // Language models load before anything binds: a bad GGUF file exits 2.
        var llmModels: LLMModels?
        if !llm.isEmpty {
            try exitTwoOnBadInput {
                llmModels = try LLMModels.load(specs: llm, threads: threads, kvCacheBytes: llmKvCacheMb << 20,
                                               memoryBudget: llmMemoryBudget.map { $0 << 20 }, logger: Logger(label: "berth.server.llm"))
            }
        }
        defer { llmModels?.shutdown() }
        if registry {
            let store = keyStore!
            let manager = ModelManager(repository: nil, defaultThreads: threads, strictReadiness: strictReadiness, logger: Logger(label: "berth.server.models"))
            // Registry versions that are GGUF files serve on the OpenAI routes, beside any --llm models.
            let llms = llmModels ?? LLMModels(memoryBudget: llmMemoryBudget.map { $0 << 20 }, threads: threads,
                                              kvCacheBytes: llmKvCacheMb << 20, logger: Logger(label: "berth.server.llm"))
            defer { llms.shutdown() }
            let deployer = RegistryDeployer(registry: store, manager: manager, trust: trust, llms: llms, logger: Logger(label: "berth.server.registry"))
            try await Self.serve(BerthHTTPServer(manager: manager, configuration: configuration, deployer: deployer,
                                                 observers: try observers(), monitoring: monitor?.monitoring(manager),
                                                 access: access, logger: logger), tracing: tracing, llm: llms)
            return
        }
        if !demo && modelRepository == nil {
            let manager = ModelManager(repository: nil, defaultThreads: threads, strictReadiness: strictReadiness, logger: Logger(label: "berth.server.models"))
            try await Self.serve(BerthHTTPServer(manager: manager, configuration: configuration, observers: try observers(),
                                                 monitoring: monitor?.monitoring(manager), access: access, logger: logger), tracing: tracing, llm: llmModels)
            return
        }
        let root: URL
        if demo {
            root = try Self.makeDemoRepository(logger: logger)
        } else {
            root = URL(fileURLWithPath: modelRepository!)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError("model repository '\(root.path)' is not a folder")
            }
        }
        let manager = ModelManager(repository: ModelRepository(root: root), defaultThreads: threads,
                                   strictReadiness: strictReadiness, logger: Logger(label: "berth.server.models"))
        defer { if demo { try? FileManager.default.removeItem(at: root) } }
        try await Self.serve(BerthHTTPServer(manager: manager, configuration: configuration, observers: try observers(),
                                             monitoring: monitor?.monitoring(manager), access: access, logger: logger), tracing: tracing, llm: llmModels)
    }

    /// The request observers the options ask for (the access log).
    func observers() throws -> [any InferenceObserver] {
        guard let accessLog else { return [] }
        do { return [try AccessLog(path: accessLog)] } catch { throw CLIError("--access-log: \(error)") }
    }

    /// The prediction log and alert rules the options ask for; nil when neither is on.
    func monitorSetup(dataDir: URL) throws -> MonitorSetup? {
        guard (0...1).contains(predictionLogSample) else { throw CLIError("--prediction-log-sample must be between 0 and 1") }
        guard predictionLogMaxRows > 0, alertIntervalMs > 0 else {
            throw CLIError("--prediction-log-max-rows and --alert-interval-ms must be positive")
        }
        guard driftIntervalMs >= 0 else { throw CLIError("--drift-interval-ms must be 0 (off) or positive") }
        guard let maxAge = DurationText.seconds(predictionLogMaxAge), maxAge > 0 else {
            throw CLIError("--prediction-log-max-age '\(predictionLogMaxAge)' is not an age such as 7d, 12h or 3600s")
        }
        var rules: [AlertRule] = []
        if let alertRules {
            let text: String
            do { text = try String(contentsOfFile: alertRules, encoding: .utf8) } catch {
                throw CLIError("--alert-rules: cannot read \(alertRules): \(error.localizedDescription)")
            }
            do { rules = try AlertRule.parseFile(text, source: alertRules) } catch { throw CLIError("--alert-rules: \(error)") }
            if predictionLogSample == 0, let live = rules.first(where: { $0.condition.metric.needsLog }) {
                throw CLIError("--alert-rules: rule '\(live.name)' watches \(live.condition.metric.rawValue), which needs the prediction log: add --prediction-log-sample RATE")
            }
            if let r = rules.first(where: { $0.actions.contains(.retrain) }) {
                // Retraining reads labelled logged rows and pushes a version: it needs both.
                guard predictionLogSample > 0 else {
                    throw CLIError("--alert-rules: rule '\(r.name)' retrains from logged labelled rows: add --prediction-log-sample RATE")
                }
                guard registry else { throw CLIError("--alert-rules: rule '\(r.name)' retrains into the registry: serve with --registry") }
            }
        }
        guard predictionLogSample > 0 || !rules.isEmpty else { return nil }
        var log: PredictionLogSettings?
        if predictionLogSample > 0 {
            let masking: LogMasking
            do { masking = try LogMasking(parsing: predictionLogMasks) } catch { throw CLIError("--prediction-log-mask: \(error)") }
            let settings = PredictionLogSettings(sampleRate: predictionLogSample, maxRows: predictionLogMaxRows, maxAge: maxAge,
                                                 masking: masking)
            log = settings
        }
        return MonitorSetup(logSettings: log, rules: rules, dataDir: dataDir)
    }

    /// What `--prediction-log-*` and `--alert-rules` set up, before the server exists.
    struct MonitorSetup {
        var logSettings: PredictionLogSettings?
        var rules: [AlertRule]
        var dataDir: URL
        var log: PredictionLog?
        var alertStore: any AlertStateStore = MemoryAlertStateStore()
        var replica = ""

        /// Opens the log: in SQLite under the data directory, or with `shared` (replicas of a
        /// PostgreSQL registry) the log and the alert states in that database.
        mutating func open(shared: PostgresURL?) throws {
            guard let shared else {
                log = try logSettings.map { try PredictionLog(directory: dataDir, settings: $0) }
                return
            }
            replica = ReplicaIdentity().id
            let state = SharedMonitorState(url: shared, replica: replica)
            log = logSettings.map { PredictionLog(store: state.predictions, settings: $0) }
            alertStore = state.alerts
            sharedReferences = state.references
            // The leader evaluates request-window rules over every replica's counts.
            if rules.contains(where: { $0.condition.metric.isRequestWindow }) {
                clusterWindow = ClusterRequestWindow(store: state.requestCounts, replica: replica)
            }
        }

        /// With a shared registry: reference samples in its database, and the cluster's request counts.
        var sharedReferences: (any ReferenceSampleStore)?
        var clusterWindow: ClusterRequestWindow?

        func monitoring(_ manager: ModelManager) -> Monitoring {
            Monitoring(log: log, references: log.map { _ in sharedReferences ?? ReferenceStore(dataDirectory: dataDir) }, rules: rules,
                       registry: manager.metrics.registry, alertStore: alertStore, replica: replica, clusterWindow: clusterWindow)
        }
    }

    /// Says so at once, before any model loads, when the port cannot be bound (in use, or not
    /// ours to take); exit 2. A port freed between this check and the server's bind is harmless.
    static func checkPortIsFree(host: String, port: Int) async throws {
        guard port != 0 else { return }
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
            try await channel.close()
        } catch {
            let message = "Error: cannot listen on \(host):\(port): \(error) (is another server using it? pick a port with --port)\n"
            FileHandle.standardError.write(Data(message.utf8))
            throw ExitCode(2)
        }
    }

    /// Runs the server until it stops (SIGTERM or SIGINT).
    static func serve(_ server: BerthHTTPServer, tracing: (any Service)? = nil, llm: LLMModels? = nil) async throws {
        var withLLM = server
        withLLM.llm = llm
        let server = withLLM
        do { try await OTelTracing.alongside(tracing) { try await server.run() } } catch { throw CLIError("server failed: \(error)") }
    }

    /// Builds a temporary repository of the demo models built into the binary (``DemoModels``),
    /// plus links to a checkout's examples/generated/*.onnx when one is found: works from any
    /// directory, and from an installed binary without a checkout.
    static func makeDemoRepository(logger: Logger) throws -> URL {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("berth-demo-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: root)
        func folder(_ model: String) throws -> URL {
            let dir = root.appendingPathComponent(model).appendingPathComponent("1")
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            return dir
        }
        for (name, base64) in DemoModels.all {
            guard let bytes = DemoModels.bytes(base64) else { throw CLIError("--demo: the built-in model '\(name)' is corrupt") }
            try bytes.write(to: try folder(name).appendingPathComponent("model.onnx"))
        }
        let builtIn = Set(DemoModels.all.map(\.name))
        if let generated = findExamples()?.appendingPathComponent("generated") {
            for f in ((try? fm.contentsOfDirectory(atPath: generated.path)) ?? []).sorted() where f.hasSuffix(".onnx") {
                let name = String(f.dropLast(5))
                guard !builtIn.contains(name) else { continue }
                let file = generated.appendingPathComponent(f)
                let dir = try folder(name)
                try fm.createSymbolicLink(at: dir.appendingPathComponent("model.onnx"), withDestinationURL: file)
                // External data files (e.g. transformer.onnx.data) sit beside the model under their own names.
                let siblings = (try? fm.contentsOfDirectory(atPath: generated.path)) ?? []
                for s in siblings where s.hasPrefix(f + ".") {
                    try fm.createSymbolicLink(at: dir.appendingPathComponent(s), withDestinationURL: generated.appendingPathComponent(s))
                }
            }
        }
        logger.notice("demo repository", metadata: ["path": "\(root.path)"])
        return root
    }

    /// A checkout's `examples/` in the working directory or above the executable (for the
    /// generated extras; the demo models themselves are built in).
    static func findExamples() -> URL? {
        let fm = FileManager.default
        var candidates = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir)
            dir = dir.deletingLastPathComponent()
        }
        for c in candidates {
            let e = c.appendingPathComponent("examples")
            if fm.fileExists(atPath: e.appendingPathComponent("digits_mlp.onnx").path) { return e }
        }
        return nil
    }
}
