@testable import BerthMonitor
import XCTest

/// Alert rule files (errors name the line and the reason) and the firing state machine.
final class AlertRuleTests: XCTestCase {
    let good = """
        rules:
          - name: accuracy-drop
            model: churn
            when: live_accuracy < 0.8
            min_samples: 50
            for: 10s
            actions: [rollback, log]
          - name: slow
            model: churn
            when: p99_latency_ms > 250
            window: 2m
            actions: [webhook]
            webhook: http://127.0.0.1:9/alert
        """

    func testParsesRules() throws {
        let rules = try AlertRule.parseFile(good, source: "rules.yaml")
        XCTAssertEqual(rules.count, 2)
        XCTAssertEqual(rules[0].condition, try RuleCondition(parsing: "live_accuracy < 0.8"))
        XCTAssertEqual(rules[0].minSamples, 50)
        XCTAssertEqual(rules[0].holdFor, 10)
        XCTAssertEqual(rules[0].actions, [.rollback, .log])
        XCTAssertEqual(rules[0].line, 2)
        XCTAssertEqual(rules[1].window, 120)
        XCTAssertEqual(rules[1].webhookURL, "http://127.0.0.1:9/alert")
        let drift = try RuleCondition(parsing: "feature_drift(age) > 0")
        XCTAssertEqual(drift.metric, .featureDrift)
        XCTAssertEqual(drift.feature, "age")
        XCTAssertEqual(drift.description, "feature_drift(age) > 0.0")
    }

    /// Each bad file is refused with its line and a reason naming the fault.
    func testBadFilesNameLineAndReason() {
        let cases: [(String, String, String)] = [
            ("rules:\n  - name: a\n    model: m\n    when: live_acuracy < 0.8\n", "rules.yaml:4", "unknown metric 'live_acuracy'"),
            ("rules:\n  - name: a\n    model: m\n    when: live_accuracy << 0.8\n", "rules.yaml:4", "unknown comparison"),
            ("rules:\n  - name: a\n    model: m\n    when: live_accuracy < high\n", "rules.yaml:4", "'high' is not a number"),
            ("rules:\n  - name: a\n    model: m\n    when: feature_drift > 0\n", "rules.yaml:4", "feature_drift(NAME)"),
            ("rules:\n  - name: a\n    model: m\n    when: drift_share(age) > 0\n", "rules.yaml:4", "takes no argument"),
            ("rules:\n  - name: a\n    when: error_rate > 0.1\n", "rules.yaml:2", "needs 'model'"),
            ("rules:\n  - name: a\n    model: m\n    when: error_rate > 0.1\n    actions: [explode]\n", "rules.yaml:5", "unknown action 'explode'"),
            ("rules:\n  - name: a\n    model: m\n    when: error_rate > 0.1\n    for: soon\n", "rules.yaml:5", "'for' must be a duration"),
            ("rules:\n  - name: a\n    model: m\n    when: error_rate > 0.1\n    colour: red\n", "rules.yaml:5", "unknown key 'colour'"),
            ("rules:\n  - name: a\n    model: m\n    when: error_rate > 0.1\n    actions: [webhook]\n", "rules.yaml:2", "no 'webhook"),
            ("rules:\n  - name: a\n    model: m\n    when: error_rate > 0.1\n  - name: a\n    model: m\n    when: error_rate > 0.2\n",
             "rules.yaml:5", "two rules are named 'a'"),
            ("rules: [\n", "rules.yaml", "not valid YAML"),
            ("alerts: []\n", "rules.yaml:1", "unknown key 'alerts'"),
        ]
        for (text, location, reason) in cases {
            XCTAssertThrowsError(try AlertRule.parseFile(text, source: "rules.yaml"), text) { error in
                let message = "\(error)"
                XCTAssertTrue(message.hasPrefix(location), "\(message) should start with \(location)")
                XCTAssertTrue(message.contains(reason), "\(message) should mention \(reason)")
            }
        }
    }

    func testTrackerFiresAfterHoldAndOnceUntilResolved() throws {
        var rule = try AlertRule.parseFile(good, source: "r")[0]
        rule.holdFor = 10
        let t0 = Date(timeIntervalSince1970: 1000)
        var tracker = AlertTracker(rule: rule, now: t0)
        // Too few samples: nothing, whatever the value.
        XCTAssertNil(tracker.observe(value: 0.1, samples: 49, version: "2", now: t0))
        XCTAssertEqual(tracker.status.state, "insufficient_data")
        XCTAssertNil(tracker.observe(value: 0.5, samples: 60, version: "2", now: t0))
        XCTAssertEqual(tracker.status.state, "pending")
        XCTAssertNil(tracker.observe(value: 0.5, samples: 60, version: "2", now: t0 + 9))
        XCTAssertEqual(tracker.observe(value: 0.5, samples: 60, version: "2", now: t0 + 10), .fired)
        XCTAssertEqual(tracker.status.state, "firing")
        XCTAssertNil(tracker.observe(value: 0.4, samples: 70, version: "2", now: t0 + 20), "a firing rule does not fire again")
        XCTAssertEqual(tracker.status.fired, 1)
        // Rolled back: the new version has too little data, which resolves the alert.
        XCTAssertEqual(tracker.observe(value: nil, samples: 0, version: "1", now: t0 + 21), .resolved)
        // A condition that stops holding while pending resets the hold.
        XCTAssertNil(tracker.observe(value: 0.5, samples: 60, version: "1", now: t0 + 30))
        XCTAssertNil(tracker.observe(value: 0.9, samples: 60, version: "1", now: t0 + 35))
        XCTAssertEqual(tracker.status.state, "ok")
        XCTAssertNil(tracker.observe(value: 0.5, samples: 60, version: "1", now: t0 + 36))
        XCTAssertNil(tracker.observe(value: 0.5, samples: 60, version: "1", now: t0 + 45))
        XCTAssertEqual(tracker.observe(value: 0.5, samples: 60, version: "1", now: t0 + 46), .fired)
        XCTAssertEqual(tracker.status.fired, 2)
    }

    func testDurations() {
        XCTAssertEqual(DurationText.seconds("500ms"), 0.5)
        XCTAssertEqual(DurationText.seconds("10s"), 10)
        XCTAssertEqual(DurationText.seconds("2m"), 120)
        XCTAssertEqual(DurationText.seconds("7d"), 7 * 86_400)
        XCTAssertEqual(DurationText.seconds("3"), 3)
        XCTAssertNil(DurationText.seconds("-1s"))
        XCTAssertNil(DurationText.seconds("soon"))
    }
}
