/// Accuracy, precision, recall and F1 from true and predicted labels, computed as
/// scikit-learn's `accuracy_score` and `precision_recall_fscore_support` compute them (labels
/// from both lists, sorted; a 0/0 division gives 0, scikit-learn's `zero_division="warn"`).
public struct ClassificationMetrics: Sendable {
    /// Precision, recall, F1 and support of one class.
    public struct PerClass: Sendable, Equatable {
        /// The class.
        public var label: ClassLabel
        /// TP / (TP + FP): of the rows predicted as this class, the share that are.
        public var precision: Double
        /// TP / (TP + FN): of the rows of this class, the share found.
        public var recall: Double
        /// 2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall.
        public var f1: Double
        /// Rows whose true label is this class.
        public var support: Int
    }

    /// An average of per-class precision, recall and F1.
    public struct Average: Sendable, Equatable {
        /// Mean precision.
        public var precision: Double
        /// Mean recall.
        public var recall: Double
        /// Mean F1 (the mean of per-class F1, not the F1 of the means).
        public var f1: Double
    }

    /// The confusion matrix the other numbers come from.
    public let confusion: ConfusionMatrix
    /// The share of rows predicted correctly.
    public let accuracy: Double
    /// One entry per label in ``ConfusionMatrix/labels`` order.
    public let perClass: [PerClass]
    /// The unweighted mean over classes (scikit-learn `average="macro"`).
    public let macro: Average
    /// The mean over classes weighted by support (scikit-learn `average="weighted"`).
    public let weighted: Average

    /// Computes every metric; `truth` and `predicted` must have the same, non-zero length.
    public init(truth: [ClassLabel], predicted: [ClassLabel]) {
        precondition(!truth.isEmpty, "no rows")
        let cm = ConfusionMatrix(truth: truth, predicted: predicted)
        let tp = cm.truePositives, trueSum = cm.trueCounts, predSum = cm.predictedCounts
        func divide(_ a: Double, _ b: Double) -> Double { b == 0 ? 0 : a / b }
        let rows = cm.labels.indices.map { k in
            PerClass(label: cm.labels[k],
                     precision: divide(Double(tp[k]), Double(predSum[k])),
                     recall: divide(Double(tp[k]), Double(trueSum[k])),
                     f1: divide(2 * Double(tp[k]), Double(trueSum[k]) + Double(predSum[k])),
                     support: trueSum[k])
        }
        let n = Double(rows.count)
        let total = Double(trueSum.reduce(0, +))
        func mean(_ v: KeyPath<PerClass, Double>) -> Double { rows.reduce(0) { $0 + $1[keyPath: v] } / n }
        func weightedMean(_ v: KeyPath<PerClass, Double>) -> Double {
            total == 0 ? 0 : rows.reduce(0) { $0 + $1[keyPath: v] * Double($1.support) } / total
        }
        perClass = rows
        accuracy = Double(tp.reduce(0, +)) / Double(truth.count)
        confusion = cm
        macro = Average(precision: mean(\.precision), recall: mean(\.recall), f1: mean(\.f1))
        weighted = Average(precision: weightedMean(\.precision), recall: weightedMean(\.recall), f1: weightedMean(\.f1))
    }
}
