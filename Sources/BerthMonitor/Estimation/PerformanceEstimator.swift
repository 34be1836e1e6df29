import BerthEngine
import BerthEval
import Foundation

/// Runs a binary classifier on labelled reference data and on analysis data (labels optional),
/// fits ``CBPE`` on the reference and estimates accuracy, macro F1 and ROC-AUC on the analysis
/// data; with labels there, the realized values too (as `berth eval` computes them).
///
/// Inputs are fed as `berth eval` feeds them (BerthEval's `FeedBuilder`); the positive class is
/// the second of the probability output's classes in sorted order (scikit-learn's).
public struct PerformanceEstimator: Sendable {
    /// The evaluator that runs the model.
    public let evaluator: Evaluator
    /// The label column (dropped from the model's inputs).
    public let labelColumn: String

    /// Loads the model.
    public init(model: URL, labelColumn: String, options: SessionOptions = SessionOptions()) throws {
        evaluator = try Evaluator(contentsOf: model, options: options)
        self.labelColumn = labelColumn
    }

    /// An estimator over an already loaded model (a served version's session).
    public init(evaluator: Evaluator, labelColumn: String) {
        self.evaluator = evaluator
        self.labelColumn = labelColumn
    }

    /// Estimated (and, when the analysis data has labels, realized) metrics.
    public func estimate(reference: Table, analysis: Table) throws -> PerformanceEstimate {
        let ref = try run(reference, labelled: true)
        guard let refTruth = ref.truth else { throw MonitorError.invalidArgument("the reference data needs labels") }
        let hasLabels = analysis.names.contains(labelColumn)
        let cur = try run(analysis, labelled: hasLabels)
        guard cur.positive == ref.positive else {
            throw MonitorError.invalidArgument("the model's classes differ between the two runs")
        }
        let cbpe = try CBPE(referenceScores: ref.scores, referenceTruth: refTruth)
        let estimated = try cbpe.estimate(scores: cur.scores, predicted: cur.predicted)
        let realized = cur.report.map { r in (r.metrics["accuracy"] ?? nil, r.metrics["f1_macro"] ?? nil, r.metrics["roc_auc"] ?? nil) }
        return PerformanceEstimate(
            accuracy: .init(estimated: estimated.accuracy, realized: realized?.0),
            f1Macro: .init(estimated: estimated.f1Macro, realized: realized?.1),
            rocAUC: .init(estimated: estimated.rocAUC, realized: realized?.2),
            calibrated: cbpe.calibrator != nil, positiveClass: ref.positive.description, rows: cur.scores.count)
    }

    /// One run: positive-class scores, predicted and true positives, the eval report when labelled.
    private struct Run {
        var scores: [Double]
        var predicted: [Bool]
        var truth: [Bool]?
        var positive: ClassLabel
        var report: Report?
    }

    private func run(_ table: Table, labelled: Bool) throws -> Run {
        // Without labels, a placeholder column lets the evaluator produce the predictions; the
        // metrics it computes from it are discarded.
        let data = labelled ? table : try Table(
            source: table.source, columns: table.columns + [Column(name: labelColumn, numbers: Array(repeating: 0, count: table.rowCount))],
            rowCount: table.rowCount, lines: table.lines)
        let dataset = try Dataset(table: data, labelColumn: labelColumn)
        let (report, predictions) = try evaluator.evaluate(dataset, options: .init(task: .classification), model: "", data: table.source)
        guard case let .classification(p) = predictions, let probabilities = p.probabilities else {
            throw MonitorError.invalidArgument("the model has no probability output (float [N, 2]); CBPE needs probabilities")
        }
        guard p.classes.count == 2 else {
            throw MonitorError.invalidArgument("CBPE here supports binary classifiers; the model has \(p.classes.count) classes")
        }
        let positive = p.classes[1]
        let n = p.predicted.count
        guard probabilities.count == 2 * n else { throw MonitorError.invalidArgument("the probability output does not have two columns per row") }
        let scores = (0..<n).map { probabilities[2 * $0 + 1] }
        if let i = scores.firstIndex(where: { !$0.isFinite }) {
            throw MonitorError.invalidArgument("\(table.source): the model's probability for row \(i + 1) is \(scores[i])")
        }
        return Run(scores: scores, predicted: p.predicted.map { $0 == positive }, truth: labelled ? p.truth.map { $0 == positive } : nil,
                   positive: positive, report: labelled ? report : nil)
    }
}

/// The result of ``PerformanceEstimator/estimate(reference:analysis:)``.
public struct PerformanceEstimate: Sendable, Codable, Equatable {
    /// One metric: estimated, and realized when labels were there.
    public struct Metric: Sendable, Codable, Equatable {
        /// CBPE's estimate (null when undefined).
        public var estimated: Double?
        /// The value computed from the analysis labels, or nil.
        public var realized: Double?

        /// Encodes both keys, null when absent.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(estimated, forKey: .estimated)
            try c.encode(realized, forKey: .realized)
        }
    }

    /// Accuracy.
    public var accuracy: Metric
    /// Macro F1.
    public var f1Macro: Metric
    /// ROC-AUC of the positive class.
    public var rocAUC: Metric
    /// Whether the reference scores were calibrated (isotonic) before estimating.
    public var calibrated: Bool
    /// The class whose probability is the score.
    public var positiveClass: String
    /// Analysis rows.
    public var rows: Int

    /// `{"metrics": {"accuracy": …, "f1_macro": …, "roc_auc": …}, "calibrated": …, "positive_class": …, "rows": …}`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: TopKeys.self)
        var m = c.nestedContainer(keyedBy: MetricKeys.self, forKey: .metrics)
        try m.encode(accuracy, forKey: .accuracy)
        try m.encode(f1Macro, forKey: .f1Macro)
        try m.encode(rocAUC, forKey: .rocAUC)
        try c.encode(calibrated, forKey: .calibrated)
        try c.encode(positiveClass, forKey: .positiveClass)
        try c.encode(rows, forKey: .rows)
    }

    /// Reads what ``encode(to:)`` writes.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: TopKeys.self)
        let m = try c.nestedContainer(keyedBy: MetricKeys.self, forKey: .metrics)
        accuracy = try m.decode(Metric.self, forKey: .accuracy)
        f1Macro = try m.decode(Metric.self, forKey: .f1Macro)
        rocAUC = try m.decode(Metric.self, forKey: .rocAUC)
        calibrated = try c.decode(Bool.self, forKey: .calibrated)
        positiveClass = try c.decode(String.self, forKey: .positiveClass)
        rows = try c.decode(Int.self, forKey: .rows)
    }

    /// A result from its parts.
    public init(accuracy: Metric, f1Macro: Metric, rocAUC: Metric, calibrated: Bool, positiveClass: String, rows: Int) {
        self.accuracy = accuracy
        self.f1Macro = f1Macro
        self.rocAUC = rocAUC
        self.calibrated = calibrated
        self.positiveClass = positiveClass
        self.rows = rows
    }

    enum TopKeys: String, CodingKey { case metrics, calibrated, positiveClass = "positive_class", rows }
    enum MetricKeys: String, CodingKey { case accuracy, f1Macro = "f1_macro", rocAUC = "roc_auc" }
}
