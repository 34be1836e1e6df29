import BerthGate
import Foundation
import Yams

extension AlertRule {
    /// Keys a rule may have.
    static let keys: Set<String> = ["name", "model", "when", "min_samples", "for", "window", "actions", "webhook", "retrain"]
    /// Keys of a rule's `retrain:` block.
    static let retrainKeys: Set<String> = ["command", "canary_percent", "gates", "timeout", "rows", "holdout"]

    /// Parses a rules file (`rules: [ {name, model, when, min_samples, for, window, actions, webhook} ]`).
    /// Every error names `source`, the line and the reason.
    public static func parseFile(_ text: String, source: String) throws -> [AlertRule] {
        func fail(_ line: Int?, _ why: String) -> MonitorError {
            .invalidArgument("\(source)\(line.map { ":\($0)" } ?? ""): \(why)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw fail(nil, "not valid YAML: \(error)")
        }
        guard let top = root?.mapping else { throw fail(root?.mark?.line, "the file needs a top-level 'rules:' list") }
        for key in top.keys where key.string != "rules" {
            throw fail(key.mark?.line, "unknown key '\(key.string ?? "?")' (the file holds only 'rules')")
        }
        guard let list = top["rules"]?.sequence else { throw fail(top.mark?.line, "'rules' must be a list") }
        var rules: [AlertRule] = [], names = Set<String>()
        for item in list {
            let line = item.mark?.line ?? 0
            guard let m = item.mapping else { throw fail(line, "each rule must be a mapping") }
            for key in m.keys {
                guard let k = key.string, keys.contains(k) else {
                    throw fail(key.mark?.line, "unknown key '\(key.string ?? "?")'; a rule has " + keys.sorted().joined(separator: ", "))
                }
            }
            func string(_ k: String, required: Bool = true) throws -> String? {
                guard let n = m[k] else {
                    if required { throw fail(line, "the rule needs '\(k)'") }
                    return nil
                }
                guard let s = n.string, !s.isEmpty else { throw fail(n.mark?.line, "'\(k)' must be text") }
                return s
            }
            let name = try string("name")!
            guard names.insert(name).inserted else { throw fail(line, "two rules are named '\(name)'") }
            let model = try string("model")!
            let condition: RuleCondition
            do { condition = try RuleCondition(parsing: try string("when")!) } catch {
                throw fail(m["when"]?.mark?.line, "rule '\(name)': \(error)")
            }
            var minSamples = condition.metric.needsLog ? 50 : 1
            if let n = m["min_samples"] {
                guard let v = n.int, v >= 1 else { throw fail(n.mark?.line, "'min_samples' must be a whole number ≥ 1") }
                minSamples = v
            }
            var holdFor: TimeInterval = 0
            if let n = m["for"] {
                guard let s = n.string, let d = DurationText.seconds(s) else {
                    throw fail(n.mark?.line, "'for' must be a duration such as 10s, 2m or 1h")
                }
                holdFor = d
            }
            var window = condition.metric.isLive ? 200 : condition.metric.needsReference ? 500 : 60
            if let n = m["window"] {
                if condition.metric.needsLog {
                    guard let v = n.int, v >= 1 else { throw fail(n.mark?.line, "'window' of \(condition.metric.rawValue) is a count of rows ≥ 1") }
                    window = v
                } else {
                    guard let s = n.string, let d = DurationText.seconds(s), d >= 1 else {
                        throw fail(n.mark?.line, "'window' of a request metric is a duration of at least 1s")
                    }
                    window = Int(d)
                }
            }
            var actions: [AlertAction] = []
            if let n = m["actions"] {
                guard let seq = n.sequence else { throw fail(n.mark?.line, "'actions' must be a list") }
                for a in seq {
                    guard let s = a.string, let action = AlertAction(rawValue: s) else {
                        throw fail(a.mark?.line, "unknown action '\(a.string ?? "?")'; actions: "
                            + AlertAction.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                    actions.append(action)
                }
            }
            let webhook = try string("webhook", required: false)
            if actions.contains(.webhook) {
                guard let webhook, let url = URL(string: webhook), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                    throw fail(line, "rule '\(name)' has the webhook action but no 'webhook: http(s)://…' URL")
                }
            } else if webhook != nil {
                throw fail(m["webhook"]?.mark?.line, "rule '\(name)' names a webhook but its actions do not include 'webhook'")
            }
            var retrain: RetrainSettings?
            if let n = m["retrain"] {
                guard actions.contains(.retrain) else {
                    throw fail(n.mark?.line, "rule '\(name)' has a 'retrain' block but its actions do not include 'retrain'")
                }
                retrain = try parseRetrain(n, rule: name, fail: fail)
            } else if actions.contains(.retrain) {
                throw fail(line, "rule '\(name)' has the retrain action but no 'retrain:' block with a 'command'")
            }
            var rule = AlertRule(name: name, model: model, condition: condition, minSamples: minSamples, holdFor: holdFor,
                                 window: window, actions: actions, webhookURL: webhook, line: line)
            rule.retrain = retrain
            rules.append(rule)
        }
        return rules
    }

    /// Parses a rule's `retrain:` block; every error names the line.
    static func parseRetrain(_ n: Node, rule: String, fail: (Int?, String) -> MonitorError) throws -> RetrainSettings {
        guard let m = n.mapping else { throw fail(n.mark?.line, "rule '\(rule)': 'retrain' must be a mapping with a 'command'") }
        for key in m.keys {
            guard let k = key.string, retrainKeys.contains(k) else {
                throw fail(key.mark?.line, "unknown key '\(key.string ?? "?")' in 'retrain'; it has " + retrainKeys.sorted().joined(separator: ", "))
            }
        }
        var command: [String] = []
        if let c = m["command"] {
            if let seq = c.sequence {
                command = seq.compactMap(\.string)
                guard command.count == seq.count else { throw fail(c.mark?.line, "'command' must be a list of words") }
            } else if let text = c.string {
                command = ["/bin/sh", "-c", text]
            }
        }
        guard let program = command.first, !program.isEmpty else {
            throw fail(n.mark?.line, "rule '\(rule)': 'retrain' needs a 'command' (a list such as [python3, retrain.py])")
        }
        var settings = RetrainSettings(command: command)
        if let c = m["canary_percent"] {
            guard let v = c.float, v > 0, v <= 100 else { throw fail(c.mark?.line, "'canary_percent' must be a number in (0, 100]") }
            settings.canaryPercent = v
        }
        if let g = m["gates"] {
            guard let seq = g.sequence else { throw fail(g.mark?.line, "'gates' must be a list such as [\"accuracy>=0.8\"]") }
            for item in seq {
                guard let text = item.string else { throw fail(item.mark?.line, "a gate must be text such as accuracy>=0.8") }
                do { settings.gates.append(try Gate(expression: text)) } catch {
                    throw fail(item.mark?.line, "gate '\(text)': \(error)")
                }
            }
        }
        if let t = m["timeout"] {
            guard let s = t.string, let d = DurationText.seconds(s), d >= 1 else {
                throw fail(t.mark?.line, "'timeout' must be a duration such as 90s or 10m")
            }
            settings.timeout = d
        }
        if let r = m["rows"] {
            guard let v = r.int, v >= 10 else { throw fail(r.mark?.line, "'rows' must be a whole number ≥ 10") }
            settings.rows = v
        }
        if let h = m["holdout"] {
            guard let v = h.float, v > 0, v < 1 else { throw fail(h.mark?.line, "'holdout' must be a fraction in (0, 1)") }
            settings.holdout = v
        }
        return settings
    }
}
