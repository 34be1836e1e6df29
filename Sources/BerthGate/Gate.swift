/// A threshold a metric must meet, e.g. `accuracy >= 0.9` or `rmse <= 3`. Written as an
/// expression (`accuracy>=0.9`, `rmse<3`) or, with `berth eval --min/--max`, as `NAME=VALUE`.
/// `berth eval` checks gates against a report; the registry checks them against a version's
/// recorded metrics before a promotion, which is why gates live apart from the engine.
public struct Gate: Sendable, Equatable, Codable, CustomStringConvertible {
    /// How the metric is compared with the threshold.
    public enum Comparison: String, Sendable, Codable, CaseIterable {
        /// The metric must be at least the threshold (`--min`).
        case atLeast = ">="
        /// The metric must be at most the threshold (`--max`).
        case atMost = "<="
        /// The metric must be greater than the threshold.
        case above = ">"
        /// The metric must be less than the threshold.
        case below = "<"
    }

    /// The metric's name in the report, e.g. `accuracy`.
    public var metric: String
    /// How the metric is compared.
    public var comparison: Comparison
    /// The value compared with.
    public var threshold: Double

    /// A gate from its parts.
    public init(metric: String, comparison: Comparison, threshold: Double) {
        self.metric = metric
        self.comparison = comparison
        self.threshold = threshold
    }

    /// Parses `METRIC>=VALUE`, `METRIC<=VALUE`, `METRIC>VALUE` or `METRIC<VALUE` (spaces allowed).
    public init(expression: String) throws {
        // Two-character operators first, so `>=` is not read as `>` followed by `=0.9`.
        for op in [Comparison.atLeast, .atMost, .above, .below] {
            if let r = expression.firstRange(of: op.rawValue) {
                try self.init(metric: String(expression[..<r.lowerBound]), comparison: op,
                              value: String(expression[r.upperBound...]), expression: expression)
                return
            }
        }
        throw GateError.invalid(expression: expression, reason: "expected METRIC>=VALUE, METRIC<=VALUE, METRIC>VALUE or METRIC<VALUE")
    }

    /// Parses `METRIC=VALUE` for `--min` (the metric must be at least VALUE).
    public static func minimum(_ text: String) throws -> Gate { try assignment(text, .atLeast) }

    /// Parses `METRIC=VALUE` for `--max` (the metric must be at most VALUE).
    public static func maximum(_ text: String) throws -> Gate { try assignment(text, .atMost) }

    private static func assignment(_ text: String, _ comparison: Comparison) throws -> Gate {
        guard let eq = text.firstIndex(of: "="), !text.contains("<"), !text.contains(">") else {
            throw GateError.invalid(expression: text, reason: "expected METRIC=VALUE, e.g. accuracy=0.9")
        }
        return try Gate(metric: String(text[..<eq]), comparison: comparison, value: String(text[text.index(after: eq)...]),
                        expression: text)
    }

    private init(metric: String, comparison: Comparison, value: String, expression: String) throws {
        let name = Self.trimmed(metric)
        let valueText = Self.trimmed(value)
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw GateError.invalid(expression: expression, reason: "'\(name)' is not a metric name")
        }
        guard let v = Double(valueText), v.isFinite else {
            throw GateError.invalid(expression: expression, reason: "'\(valueText)' is not a number")
        }
        self.init(metric: name, comparison: comparison, threshold: v)
    }

    /// Fails unless the metric is one of `names` (e.g. BerthEval's `EvalTask.metricNames`).
    public func validate(against names: [String]) throws {
        guard names.contains(metric) else {
            throw GateError.invalid(expression: description, reason: "unknown metric '\(metric)'; the metrics are "
                + names.joined(separator: ", "))
        }
    }

    /// True when `value` meets the threshold; an undefined value never does.
    public func isMet(by value: Double?) -> Bool {
        guard let v = value, !v.isNaN else { return false }
        switch comparison {
        case .atLeast: return v >= threshold
        case .atMost: return v <= threshold
        case .above: return v > threshold
        case .below: return v < threshold
        }
    }

    /// The outcome of checking the gate against a metric's value (nil: undefined).
    public func result(for value: Double?) -> GateResult {
        GateResult(gate: description, metric: metric, value: value, passed: isMet(by: value))
    }

    /// `accuracy >= 0.9`.
    public var description: String {
        "\(metric) \(comparison.rawValue) \(Self.shortest(threshold))"
    }

    /// The shortest text that reads back as the same number (`0.9`, `3`).
    private static func shortest(_ v: Double) -> String {
        v.rounded() == v && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    /// Spaces around a name or number are allowed (`rmse <= 3`).
    private static func trimmed(_ s: String) -> String {
        String(s.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
