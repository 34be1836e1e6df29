/// Error metrics of predicted against true values, as scikit-learn's `mean_squared_error`,
/// `root_mean_squared_error`, `mean_absolute_error` and `r2_score` compute them.
public struct RegressionMetrics: Sendable, Equatable {
    /// Mean squared error.
    public let mse: Double
    /// Root mean squared error, √MSE.
    public let rmse: Double
    /// Mean absolute error.
    public let mae: Double
    /// Coefficient of determination, 1 − SS_res / SS_tot. When every true value is the same
    /// (SS_tot = 0) it is 1 for perfect predictions and 0 otherwise (scikit-learn's
    /// `force_finite=True`); nil for fewer than two rows, where scikit-learn returns NaN.
    public let r2: Double?

    /// Computes the metrics; `truth` and `predicted` must have the same, non-zero length.
    public init(truth: [Double], predicted: [Double]) {
        precondition(truth.count == predicted.count && !truth.isEmpty, "truth and predictions differ in length or are empty")
        let n = Double(truth.count)
        var squaredSum = CompensatedSum(), absoluteSum = CompensatedSum()
        for (t, p) in zip(truth, predicted) {
            let e = t - p
            squaredSum.add(e * e)
            absoluteSum.add(abs(e))
        }
        let squared = squaredSum.value, absolute = absoluteSum.value
        mse = squared / n
        rmse = mse.squareRoot()
        mae = absolute / n
        if truth.count < 2 {
            r2 = nil
        } else {
            let mean = CompensatedSum.of(truth) / n
            let total = CompensatedSum.of(truth.lazy.map { ($0 - mean) * ($0 - mean) })
            if total == 0 { r2 = squared == 0 ? 1 : 0 } else { r2 = 1 - squared / total }
        }
    }
}
