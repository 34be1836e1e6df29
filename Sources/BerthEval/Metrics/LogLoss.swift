import Foundation

/// Cross-entropy of predicted probabilities against true labels, as scikit-learn ≥ 1.5's
/// `log_loss(y_true, y_proba, labels=classes)`: probabilities are clipped to [ε, 1 − ε] with ε
/// the machine epsilon of their dtype (Berth computes in float64, so ε = 2⁻⁵²), rows are not
/// renormalised, and the result is the mean over rows of −ln p(true class).
public enum LogLoss {
    /// ε for float64 probabilities, `numpy.finfo(numpy.float64).eps`.
    public static let epsilon = Double.ulpOfOne

    /// The mean log loss; nil when a true label is not one of `classes` (the model cannot
    /// give it a probability). `probabilities` is row-major `[rows, classes.count]`.
    public static func mean(truth: [ClassLabel], probabilities: [Double], classes: [ClassLabel]) -> Double? {
        let c = classes.count
        precondition(probabilities.count == truth.count * c && !truth.isEmpty, "probabilities are not [rows, classes]")
        let column = Dictionary(classes.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var sum = CompensatedSum()
        for (i, label) in truth.enumerated() {
            guard let k = column[label] else { return nil }
            let p = min(max(probabilities[i * c + k], epsilon), 1 - epsilon)
            sum.add(-log(p))
        }
        return sum.value / Double(truth.count)
    }
}
