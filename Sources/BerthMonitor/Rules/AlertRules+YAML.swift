import Foundation
import Yams

extension AlertRule {
    /// Keys a rule may have.
    static let keys: Set<String> = ["name", "model", "when", "min_samples", "for", "window", "actions", "webhook"]

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
                        if a.string == "retrain" {
                            throw fail(a.mark?.line, "the 'retrain' action is not supported by this server yet")
                        }
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
            rules.append(AlertRule(name: name, model: model, condition: condition, minSamples: minSamples, holdFor: holdFor,
                                   window: window, actions: actions, webhookURL: webhook, line: line))
        }
        return rules
    }
}
