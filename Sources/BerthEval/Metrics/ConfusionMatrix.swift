/// Counts of (true label, predicted label) pairs. Rows are true labels, columns predicted
/// labels, both in ``labels`` order — scikit-learn's `confusion_matrix` layout.
public struct ConfusionMatrix: Sendable, Equatable, Codable {
    /// The labels of the rows and columns, sorted (numbers by value, strings by code point).
    public let labels: [ClassLabel]
    /// `counts[i][j]`: rows whose true label is `labels[i]` and predicted label `labels[j]`.
    public let counts: [[Int]]

    /// Counts `truth` against `predicted`. The labels are every label seen in either, sorted,
    /// as scikit-learn's `unique_labels` finds them.
    public init(truth: [ClassLabel], predicted: [ClassLabel]) {
        precondition(truth.count == predicted.count, "truth and predictions differ in length")
        let labels = Set(truth).union(predicted).sorted()
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        var counts = Array(repeating: Array(repeating: 0, count: labels.count), count: labels.count)
        for (t, p) in zip(truth, predicted) { counts[index[t]!][index[p]!] += 1 }
        self.labels = labels
        self.counts = counts
    }

    /// Rows per true label (the diagonal plus misses): support.
    public var trueCounts: [Int] { counts.map { $0.reduce(0, +) } }

    /// Rows per predicted label.
    public var predictedCounts: [Int] {
        (0..<labels.count).map { j in counts.reduce(0) { $0 + $1[j] } }
    }

    /// Correct predictions per label.
    public var truePositives: [Int] { (0..<labels.count).map { counts[$0][$0] } }
}
