import AsyncHTTPClient
import BerthMonitor
import BerthProtocol
import BerthRegistry
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Evaluates the alert rules every `interval` against each rule's model's production version
/// (the newest ready version of a repository model) and runs the actions of a rule that fires.
/// Actions run in their own task, so a slow webhook never delays the next evaluation.
struct AlertService: Service {
    let monitoring: Monitoring
    let manager: ModelManager
    let deployer: RegistryDeployer?
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            await evaluate()
        }
    }

    /// The version a rule watches now.
    func watchedVersion(_ model: String) -> String? {
        if let primary = manager.route(of: model)?.primary { return String(primary) }
        return (try? manager.readyVersions(model: model))?.max().map(String.init)
    }

    /// Whether this replica led at the last evaluation (a new leader first reads the cluster's state).
    let leading = Locked(false)

    /// True unless replicas share the registry and another one holds the leader lock.
    func leads() async -> Bool {
        guard let coordinator = deployer?.registry as? any ClusterCoordinator else { return true }
        return await ((try? blocking { coordinator.isLeader() }) ?? false)
    }

    /// One evaluation of every rule. With a shared alert store only the leader evaluates and
    /// writes each rule's state and transitions; the other replicas show what it wrote. A replica
    /// that becomes leader starts from the written states, so a firing rule is not fired again.
    func evaluate(now: Date = Date()) async {
        let store = monitoring.alertStore
        if store.isShared {
            let leads = await leads()
            let wasLeading = leading.withLock { old in defer { old = leads }; return old }
            if !leads || !wasLeading {
                // Followers mirror the leader; a new leader continues from it (the store unreachable: keep the local view).
                if let states = try? await blocking({ try store.load() }) { adopt(states) }
                if !leads { return }
            }
        }
        let count = monitoring.trackers.withLock { $0.count }
        for i in 0..<count {
            let rule = monitoring.trackers.withLock { $0[i].rule }
            let version = watchedVersion(rule.model)
            var value: Double?, samples = 0
            if let version {
                (value, samples) = measure(rule, version: version, now: now)
            }
            let transition = monitoring.trackers.withLock { $0[i].observe(value: value, samples: samples, version: version, now: now) }
            var actions: [String] = []
            switch transition {
            case .fired?:
                monitoring.metrics.setFiring(rule: rule.name, model: rule.model, firing: true)
                logger.warning("alert fired", metadata: ["rule": "\(rule.name)", "model": "\(rule.model)", "version": "\(version ?? "-")",
                                                         "condition": "\(rule.condition)", "value": "\(value ?? .nan)", "samples": "\(samples)"])
                actions = await act(rule, version: version, value: value ?? .nan, samples: samples)
                monitoring.trackers.withLock { $0[i].recordActions(actions) }
            case .resolved?:
                monitoring.metrics.setFiring(rule: rule.name, model: rule.model, firing: false)
                logger.notice("alert resolved", metadata: ["rule": "\(rule.name)", "model": "\(rule.model)"])
            case nil:
                break
            }
            let status = monitoring.trackers.withLock { $0[i].status }
            let event = transition.map {
                AlertEvent(rule: rule.name, model: rule.model, transition: $0 == .fired ? "fired" : "resolved", at: now, value: value,
                           samples: samples, version: version, actions: actions, replica: monitoring.replica)
            }
            guard event != nil || store.isShared else { continue }
            let replica = monitoring.replica, logger = self.logger
            do {
                try await blocking {
                    if let event { try store.record(event) }
                    if store.isShared { try store.save(rule: rule.name, status: status, replica: replica) }
                }
            } catch {
                logger.error("cannot write the alert state", metadata: ["rule": "\(rule.name)", "error": "\(error)"])
            }
        }
    }

    /// Takes the states another replica wrote (rules it does not know keep their own).
    func adopt(_ states: [String: AlertStatus]) {
        let rules = monitoring.trackers.withLock { trackers -> [(AlertRule, Bool)] in
            for i in trackers.indices { if let s = states[trackers[i].rule.name] { trackers[i].restore(s) } }
            return trackers.map { ($0.rule, $0.status.state == "firing") }
        }
        for (rule, firing) in rules { monitoring.metrics.setFiring(rule: rule.name, model: rule.model, firing: firing) }
    }

    /// The rule's metric for `version` and the samples behind it; nil when it cannot be computed
    /// (no data yet, no reference sample), which leaves the rule in `insufficient_data`.
    func measure(_ rule: AlertRule, version: String, now: Date) -> (Double?, Int) {
        let metric = rule.condition.metric
        switch metric {
        case .liveAccuracy, .liveF1, .liveROCAUC, .liveRMSE, .liveMAE:
            guard let p = try? monitoring.performance(model: rule.model, version: version, window: rule.window) else { return (nil, 0) }
            return (p.value(metric.performanceMetric), p.samples)
        case .driftShare, .featureDrift:
            guard let (report, rows) = try? monitoring.drift(model: rule.model, version: version, window: rule.window) else { return (nil, 0) }
            if metric == .driftShare { return (report.driftShare, rows) }
            guard let f = rule.condition.feature, let d = report.features[f] else { return (nil, rows) }
            return (d.drifted ? 1 : 0, rows)
        case .estimatedAccuracy, .estimatedF1, .estimatedROCAUC:
            guard let s = try? manager.servable(model: rule.model, version: version),
                  let e = try? monitoring.estimate(model: rule.model, version: version, window: rule.window, session: s.session) else {
                return (nil, 0)
            }
            let m = metric == .estimatedAccuracy ? e.accuracy : metric == .estimatedF1 ? e.f1Macro : e.rocAUC
            return (m.estimated, e.rows)
        case .errorRate, .p99LatencyMs, .p50LatencyMs, .requestRate:
            // Replicas sharing a registry: every replica's counts (unreadable: no value, not this replica's share alone).
            let s: RequestWindow.Summary
            if let cluster = monitoring.clusterWindow {
                guard let total = try? cluster.summary(model: rule.model, seconds: Double(rule.window), now: now) else { return (nil, 0) }
                s = total
            } else {
                s = monitoring.window.summary(model: rule.model, seconds: Double(rule.window), now: now)
            }
            switch metric {
            case .errorRate: return (s.errorRate, s.requests)
            case .p99LatencyMs: return (s.p99LatencyMs, s.requests)
            case .p50LatencyMs: return (s.p50LatencyMs, s.requests)
            default: return (s.requestRate, s.requests)
            }
        }
    }

    /// Runs the rule's actions in order; returns one outcome line per action.
    func act(_ rule: AlertRule, version: String?, value: Double, samples: Int) async -> [String] {
        let reason = "alert rule '\(rule.name)': \(rule.condition) (value \(value) over \(samples) samples, version \(version ?? "-"))"
        let change = Change(actor: "rule:\(rule.name)", reason: reason)
        var outcomes: [String] = []
        // Replicas sharing a registry act once for the cluster: only the leader (the holder of an
        // advisory lock) rolls back, stops canaries or calls webhooks; the others only log.
        if let coordinator = deployer?.registry as? any ClusterCoordinator,
           await ((try? blocking { coordinator.isLeader() }) ?? false) == false {
            return rule.actions.map { $0 == .log ? "log: written" : "\($0.rawValue): skipped (another replica leads the cluster and acts)" }
        }
        for action in rule.actions {
            switch action {
            case .log:
                outcomes.append("log: written")
            case .rollback:
                guard let deployer else { outcomes.append("rollback: skipped (not a registry server)"); continue }
                do {
                    let event = try await deployer.rollback(rule.model, alias: "production", change: change)
                    outcomes.append("rollback: production \(event.from.map(String.init) ?? "-") → \(event.to.map(String.init) ?? "-")")
                    logger.warning("alert rolled back", metadata: ["rule": "\(rule.name)", "model": "\(rule.model)"])
                } catch {
                    outcomes.append("rollback: failed (\(error))")
                    logger.error("alert rollback failed", metadata: ["rule": "\(rule.name)", "error": "\(error)"])
                }
            case .stopCanary:
                guard let deployer else { outcomes.append("stop_canary: skipped (not a registry server)"); continue }
                do {
                    let model = rule.model
                    _ = try await deployer.change { registry in
                        let current = try registry.traffic(model)
                        return try registry.setTraffic(model, TrafficPolicy(model: model, canary: nil, shadow: current.shadow), change: change)
                    }
                    outcomes.append("stop_canary: canary share set to 0")
                } catch {
                    outcomes.append("stop_canary: failed (\(error))")
                }
            case .retrain:
                guard let deployer, let settings = rule.retrain, let version else {
                    outcomes.append("retrain: skipped (needs a registry server and a watched version)")
                    continue
                }
                // Training may take minutes: it runs on its own, the evaluation loop goes on.
                let action = RetrainAction(monitoring: monitoring, deployer: deployer, logger: logger)
                let logger = self.logger
                Task {
                    let outcome = await action.run(rule, settings: settings, version: version, change: change)
                    logger.warning("alert retrain finished", metadata: ["rule": "\(rule.name)", "outcome": "\(outcome)"])
                }
                outcomes.append("retrain: started")
            case .webhook:
                guard let url = rule.webhookURL else { continue }
                let body = WebhookAlert(rule: rule.name, model: rule.model, version: version, condition: rule.condition.description,
                                        value: value.isFinite ? value : nil, samples: samples, firedAt: Date())
                let logger = self.logger
                // Retries in the background: the evaluation loop must not wait for a slow receiver.
                Task { await Self.post(body, to: url, logger: logger) }
                outcomes.append("webhook: posting to \(url)")
            }
        }
        return outcomes
    }

    /// The JSON a webhook receives.
    struct WebhookAlert: Encodable {
        var rule: String
        var model: String
        var version: String?
        var condition: String
        var value: Double?
        var samples: Int
        var firedAt: Date
        var state = "firing"
        enum CodingKeys: String, CodingKey {
            case rule, model, version, condition, value, samples, state
            case firedAt = "fired_at"
        }
    }

    /// POSTs `alert` with up to 4 attempts (1 s, 2 s, 4 s apart) until a 2xx answer.
    static func post(_ alert: WebhookAlert, to url: String, logger: Logger) async {
        guard let data = try? CodableJSON.encoder.encode(alert) else { return }
        for attempt in 0..<4 {
            if attempt > 0 { try? await Task.sleep(for: .seconds(1 << (attempt - 1))) }
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: data))
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                if (200..<300).contains(response.status.code) { return }
                logger.warning("webhook answered \(response.status.code)", metadata: ["url": "\(url)", "attempt": "\(attempt + 1)"])
            } catch {
                logger.warning("webhook failed", metadata: ["url": "\(url)", "attempt": "\(attempt + 1)", "error": "\(error)"])
            }
        }
        logger.error("webhook gave up after 4 attempts", metadata: ["url": "\(url)", "rule": "\(alert.rule)"])
    }
}
