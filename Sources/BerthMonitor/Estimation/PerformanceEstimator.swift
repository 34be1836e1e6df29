import BerthEngine
import BerthEval
import Foundation

/// Runs a classifier on labelled reference data and on analysis data (labels optional), fits
/// CBPE on the reference and estimates accuracy, macro F1 and ROC-AUC on the analysis data; with
/// labels there, the realized values too (as `berth eval` computes them).
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

    /// Estimated (and, when the analysis data has labels, realized) metrics. A binary model is
    /// estimated on its positive class's scores (``CBPE``), a model with more classes one
    /// class against the rest (``MulticlassCBPE``), as NannyML does each.
    public func estimate(reference: Table, analysis: Table) throws -> PerformanceEstimate {
        let ref = try run(reference, labelled: true)
        guard let refTruth = ref.truth else { throw MonitorError.invalidArgument("the reference data needs labels") }
        let hasLabels = analysis.names.contains(labelColumn)
        let cur = try run(analysis, labelled: hasLabels)
        guard cur.classes == ref.classes else {
            throw MonitorError.invalidArgument("the model's classes differ between the two runs")
        }
        let k = ref.classes.count
        let estimated: EstimatedMetrics
        let calibrated: Bool
        if k == 2 {
            let cbpe = try CBPE(referenceScores: MulticlassCBPE.column(ref.probabilities, 1, 2), referenceTruth: refTruth.map { $0 == 1 })
            estimated = try cbpe.estimate(scores: MulticlassCBPE.column(cur.probabilities, 1, 2), predicted: cur.predicted.map { $0 == 1 })
            calibrated = cbpe.calibrator != nil
        } else {
            let cbpe = try MulticlassCBPE(referenceProbabilities: ref.probabilities, classes: k, referenceTruth: refTruth)
            estimated = try cbpe.estimate(probabilities: cur.probabilities, predicted: cur.predicted)
            calibrated = cbpe.calibrators.contains { $0 != nil }
        }
        let realized = cur.report.map { r in (r.metrics["accuracy"] ?? nil, r.metrics["f1_macro"] ?? nil, r.metrics["roc_auc"] ?? nil) }
        return PerformanceEstimate(
            accuracy: .init(estimated: estimated.accuracy, realized: realized?.0),
            f1Macro: .init(estimated: estimated.f1Macro, realized: realized?.1),
            rocAUC: .init(estimated: estimated.rocAUC, realized: realized?.2),
            calibrated: calibrated, positiveClass: k == 2 ? ref.classes[1].description : "",
            rows: cur.predicted.count)
    }

    /// One run: class probabilities (row-major `[n, classes]`), predicted and true class indices,
    /// the eval report when labelled.
    private struct Run {
        var probabilities: [Double]
        var classes: [ClassLabel]
        var predicted: [Int]
        var truth: [Int]?
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
            throw MonitorError.invalidArgument("the model has no probability output (float [N, C]); CBPE needs probabilities")
        }
        let k = p.classes.count
        guard k >= 2 else { throw MonitorError.invalidArgument("CBPE needs at least two classes; the model has \(k)") }
        let n = p.predicted.count
        guard probabilities.count == k * n else {
            throw MonitorError.invalidArgument("the probability output does not have \(k) columns per row")
        }
        if let i = probabilities.firstIndex(where: { !$0.isFinite }) {
            throw MonitorError.invalidArgument("\(table.source): the model's probability for row \(i / k + 1) is \(probabilities[i])")
        }
        let index = Dictionary(p.classes.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        // A true label the model has no column for counts as no class (-1): never right.
        return Run(probabilities: probabilities, classes: p.classes, predicted: p.predicted.map { index[$0] ?? -1 },
                   truth: labelled ? p.truth.map { index[$0] ?? -1 } : nil, report: labelled ? report : nil)
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
