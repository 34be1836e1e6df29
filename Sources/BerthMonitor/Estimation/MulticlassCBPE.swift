import Foundation

/// NannyML's CBPE for a classifier with more than two classes: each class's probability column
/// is calibrated one-vs-rest (isotonic, when ``Calibration`` says it helps, as for a binary
/// model), the calibrated columns are renormalized to sum to one per row, and then
/// - accuracy is the mean calibrated probability of the predicted class,
/// - macro F1 is the mean over classes of the binary expected F1 (predicted = this class),
/// - ROC-AUC is the mean over classes of the one-vs-rest estimate (``CBPE/estimatedAUC``).
public struct MulticlassCBPE: Sendable {
    /// One calibrator per class (nil: that column is used as it is).
    public let calibrators: [IsotonicRegression?]

    /// Fits on labelled reference data: `probabilities` row-major `[n, classes]`, `truth` class indices.
    public init(referenceProbabilities probabilities: [Double], classes: Int, referenceTruth truth: [Int]) throws {
        guard classes >= 2, probabilities.count == truth.count * classes, !truth.isEmpty else {
            throw MonitorError.undefined("CBPE needs \(classes) probabilities and one true class per reference row")
        }
        calibrators = try (0..<classes).map { c in
            try Calibration.calibrator(scores: Self.column(probabilities, c, classes), truth: truth.map { $0 == c })
        }
    }

    /// Column `c` of a row-major `[n, classes]` matrix.
    static func column(_ m: [Double], _ c: Int, _ classes: Int) -> [Double] {
        stride(from: c, to: m.count, by: classes).map { m[$0] }
    }

    /// The calibrated, renormalized probabilities (row-major); a row whose calibrated values sum
    /// to zero becomes uniform, as NannyML does.
    public func calibrated(_ probabilities: [Double]) -> [Double] {
        let k = calibrators.count
        var out = probabilities
        for (c, calibrator) in calibrators.enumerated() {
            guard let calibrator else { continue }
            for i in stride(from: c, to: out.count, by: k) { out[i] = calibrator.predict(probabilities[i]) }
        }
        for r in stride(from: 0, to: out.count, by: k) {
            let sum = out[r..<(r + k)].reduce(0, +)
            for j in r..<(r + k) { out[j] = sum != 0 ? out[j] / sum : 1 / Double(k) }
        }
        return out
    }

    /// Estimated metrics on the model's `probabilities` (row-major) and predicted class indices.
    public func estimate(probabilities: [Double], predicted: [Int]) throws -> EstimatedMetrics {
        let k = calibrators.count
        guard probabilities.count == predicted.count * k, !predicted.isEmpty else {
            throw MonitorError.undefined("CBPE needs \(k) probabilities and one predicted class per row")
        }
        let p = calibrated(probabilities)
        let n = Double(predicted.count)
        var accuracy = 0.0
        for (r, c) in predicted.enumerated() where (0..<k).contains(c) { accuracy += p[r * k + c] }
        var f1s: [Double] = [], aucs: [Double] = []
        var aucDefined = true
        for c in 0..<k {
            let q = Self.column(p, c, k)
            var tp = 0.0, fp = 0.0, fn = 0.0
            for (r, predictedClass) in predicted.enumerated() {
                if predictedClass == c { tp += q[r]; fp += 1 - q[r] } else { fn += q[r] }
            }
            let d = tp + 0.5 * (fp + fn)
            f1s.append(d != 0 ? tp / d : 0)
            if let auc = CBPE.estimatedAUC(calibrated: q, scores: Self.column(probabilities, c, k)) { aucs.append(auc) } else { aucDefined = false }
        }
        return EstimatedMetrics(accuracy: accuracy / n, f1Macro: f1s.reduce(0, +) / Double(k),
                                rocAUC: aucDefined ? aucs.reduce(0, +) / Double(k) : nil)
    }
}
