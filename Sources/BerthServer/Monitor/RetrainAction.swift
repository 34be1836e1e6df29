import BerthEngine
import BerthEval
import BerthMonitor
import BerthRegistry
import Foundation
import Logging

/// The `retrain` action of an alert rule: exports the watched version's newest labelled logged
/// rows, runs the rule's command on them, evaluates the model it writes on held-out rows (the
/// newest), pushes it as a new version (parent: the watched one; metrics: the held-out ones) and
/// sends it to a canary through the rule's gates — never to production. Each step's failure ends
/// the action with a reason in the log; the running versions are never touched before the gates pass.
struct RetrainAction {
    let monitoring: Monitoring
    let deployer: RegistryDeployer
    let logger: Logger

    /// The alias the new version gets; the canary split sends its share of traffic there.
    static let alias = "candidate"

    /// Runs the whole action; returns its outcome line.
    func run(_ rule: AlertRule, settings: RetrainSettings, version: String, change: Change) async -> String {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("berth-retrain-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        do {
            let (train, holdout, label, task) = try data(rule, settings: settings, version: version)
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let dataURL = work.appendingPathComponent("train.csv"), output = work.appendingPathComponent("model.onnx")
            try Data(RetrainData.csv(train).utf8).write(to: dataURL)
            try await runCommand(settings, rule: rule, version: version, environment: [
                "BERTH_RETRAIN_DATA": dataURL.path, "BERTH_RETRAIN_OUTPUT": output.path, "BERTH_RETRAIN_LABEL": label,
                "BERTH_RETRAIN_TASK": task.rawValue, "BERTH_MODEL": rule.model, "BERTH_VERSION": version, "BERTH_RULE": rule.name,
            ], log: work.appendingPathComponent("command.log"))
            guard FileManager.default.fileExists(atPath: output.path) else {
                throw ServerError.badRequest("the command exited 0 but wrote no model to BERTH_RETRAIN_OUTPUT")
            }
            let metrics = try evaluate(output, on: holdout, label: label, task: task)
            var request = PushRequest(model: rule.model, description: "retrained by alert rule '\(rule.name)'",
                                      params: ["retrained_from": version, "rule": rule.name, "training_rows": String(train.rowCount),
                                               "holdout_rows": String(holdout.rowCount)],
                                      parent: Int(version), metrics: metrics, actor: change.actor, reason: change.reason)
            request.enforceOwner = false
            let staged = try deployer.registry.store.stage(copying: output)
            // --require-signed holds for retrained versions as for any push: an unsigned one is refused here.
            if let trust = deployer.trust {
                do { try trust.check(model: rule.model, version: nil, sha256: staged.sha256, signature: nil) } catch {
                    deployer.registry.store.discard(staged)
                    throw error
                }
            }
            let record = try await deployer.push(staged, request)
            do {
                _ = try await deployer.promote(rule.model, version: record.version, gates: settings.gates, alias: Self.alias, change: change)
            } catch {
                return "retrain: version \(record.version) pushed, not routed: \(error)"
            }
            let model = rule.model, percent = settings.canaryPercent
            _ = try await deployer.change { registry in
                var policy = try registry.traffic(model)
                policy.canary = TrafficPolicy.Split(alias: Self.alias, percent: percent)
                return try registry.setTraffic(model, policy, change: change)
            }
            return "retrain: version \(record.version) serves \(percent)% as canary ('\(Self.alias)')"
        } catch {
            logger.error("retrain failed", metadata: ["rule": "\(rule.name)", "model": "\(rule.model)", "error": "\(error)"])
            return "retrain: failed (\(error))"
        }
    }

    /// The training and held-out tables (oldest rows train, the newest are held out), the label
    /// column's name and the task, read from what the model answered.
    func data(_ rule: AlertRule, settings: RetrainSettings, version: String) throws -> (Table, Table, String, EvalTask) {
        guard let log = monitoring.log else { throw ServerError.badRequest("the prediction log is off") }
        let records = Array(try log.labelled(model: rule.model, version: version, rows: settings.rows).reversed())
        let reference = try? monitoring.reference(model: rule.model, version: version).info
        let label = reference?.label ?? "label"
        let table = try RetrainData.table(records, reference: reference, label: label)
        let held = max(1, Int((Double(table.rowCount) * settings.holdout).rounded()))
        guard table.rowCount - held >= 10 else {
            throw ServerError.badRequest("\(table.rowCount) labelled rows are too few to retrain (at least \(10 + held) are needed)")
        }
        var task = EvalTask.classification
        if case .values? = records.last?.outcome { task = .regression }
        return (try RetrainData.rows(table, 0..<(table.rowCount - held)), try RetrainData.rows(table, (table.rowCount - held)..<table.rowCount),
                label, task)
    }

    /// Runs the command with `environment` added, killing it after the timeout; a non-zero exit
    /// is an error carrying the tail of its output.
    func runCommand(_ settings: RetrainSettings, rule: AlertRule, version: String, environment: [String: String], log: URL) async throws {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: settings.command[0].contains("/") ? settings.command[0] : "/usr/bin/env")
        process.arguments = settings.command[0].contains("/") ? Array(settings.command.dropFirst()) : settings.command
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = handle
        process.standardError = handle
        logger.notice("retrain started", metadata: ["rule": "\(rule.name)", "model": "\(rule.model)", "version": "\(version)",
                                                    "command": "\(settings.command.joined(separator: " "))"])
        let status: Int32 = try await withCheckedThrowingContinuation { c in
            process.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                c.resume(throwing: ServerError.badRequest("cannot start \(settings.command[0]): \(error)"))
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + settings.timeout) { [weak process] in
                guard let process, process.isRunning else { return }
                process.terminate()
                // A command that ignores SIGTERM is killed 5 s later.
                DispatchQueue.global().asyncAfter(deadline: .now() + 5) { [weak process] in
                    if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
                }
            }
        }
        guard status == 0 else {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw ServerError.badRequest("the command exited with \(status): \(text.suffix(500))")
        }
    }

    /// The new model's metrics on the held-out rows, as `berth eval` computes them.
    func evaluate(_ model: URL, on holdout: Table, label: String, task: EvalTask) throws -> [String: Double] {
        let session = try Session(contentsOf: model)
        let (report, _) = try Evaluator(session: session).evaluate(try Dataset(table: holdout, labelColumn: label),
                                                                   options: .init(task: task), model: model.lastPathComponent,
                                                                   data: "held-out logged rows")
        return report.metrics.compactMapValues { $0 }
    }
}
