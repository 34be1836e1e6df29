/// What the model predicted for every row, next to the truth: what the metrics were computed
/// from (and what `berth eval --save-predictions` writes).
public enum Predictions: Sendable {
    /// Classification rows.
    case classification(ClassPredictions)
    /// Regression rows: true and predicted values.
    case regression(truth: [Double], predicted: [Double])
}

/// Classification predictions of every row.
public struct ClassPredictions: Sendable {
    /// The true label of each row.
    public var truth: [ClassLabel]
    /// The predicted label of each row (the label output, or the most probable class).
    public var predicted: [ClassLabel]
    /// The classes of the probability columns, sorted (scikit-learn's order).
    public var classes: [ClassLabel]
    /// Row-major `[rows, classes.count]` probabilities in `classes` order, as float64; nil when
    /// the model has no probability output.
    public var probabilities: [Double]?
}
