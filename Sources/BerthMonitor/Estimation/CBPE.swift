import Foundation

/// Confidence-based performance estimation (NannyML's CBPE) for a binary classifier: with scores
/// that are calibrated probabilities of the positive class, each row's expected confusion-matrix
/// entries are its probability of being right or wrong, so metrics can be estimated on data
/// without labels.
public struct CBPE: Sendable {
    /// The calibrator fitted on the reference data, when calibration lowered the ECE.
    public let calibrator: IsotonicRegression?

    /// Fits on labelled reference data: the model's positive-class scores and the true labels.
    public init(referenceScores: [Double], referenceTruth: [Bool]) throws {
        guard referenceScores.count == referenceTruth.count, !referenceScores.isEmpty else {
            throw MonitorError.undefined("CBPE needs one true label per reference score (got \(referenceTruth.count) and \(referenceScores.count))")
        }
        calibrator = try Calibration.calibrator(scores: referenceScores, truth: referenceTruth)
    }

    /// The calibrated probability of the positive class for each score.
    public func calibrated(_ scores: [Double]) -> [Double] {
        guard let calibrator else { return scores }
        return scores.map(calibrator.predict)
    }

    /// Estimated metrics on `scores` and the model's predicted labels (true = positive).
    public func estimate(scores: [Double], predicted: [Bool]) throws -> EstimatedMetrics {
        guard scores.count == predicted.count, !scores.isEmpty else {
            throw MonitorError.undefined("CBPE needs one predicted label per score (got \(predicted.count) and \(scores.count))")
        }
        let p = calibrated(scores)
        var tp = 0.0, fp = 0.0, tn = 0.0, fn = 0.0
        for (q, positive) in zip(p, predicted) {
            if positive { tp += q; fp += 1 - q } else { tn += 1 - q; fn += q }
        }
        let n = Double(scores.count)
        func f1(_ tp: Double, _ fp: Double, _ fn: Double) -> Double {
            let d = tp + 0.5 * (fp + fn)
            return d != 0 ? tp / d : 0
        }
        return EstimatedMetrics(accuracy: (tp + tn) / n, f1Macro: (f1(tp, fp, fn) + f1(tn, fn, fp)) / 2,
                                rocAUC: CBPE.estimatedAUC(calibrated: p, scores: scores))
    }

    /// NannyML's `estimate_roc_auc`: rows by score, descending; the calibrated probabilities are
    /// expected true positives, their complements expected false positives; cumulative counts
    /// rounded to 5 decimals, then the trapezoidal area under (FPR, TPR).
    static func estimatedAUC(calibrated: [Double], scores: [Double]) -> Double? {
        // NumPy's argsort(...)[::-1]: descending, ties in reverse index order.
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 > $1 }
        var tps = [0.0], fps = [0.0]
        var cum = 0.0
        for (k, i) in order.enumerated() {
            cum += calibrated[i]
            tps.append(cum)
            fps.append(Double(k + 1) - cum)
        }
        func round5(_ x: Double) -> Double { (x * 1e5).rounded(.toNearestOrEven) / 1e5 }
        tps = tps.map(round5)
        fps = fps.map(round5)
        guard let tpMax = tps.last, let fpMax = fps.last, tpMax > 0, fpMax > 0 else { return nil }
        var area = 0.0
        for k in 1..<tps.count {
            area += (fps[k] - fps[k - 1]) / fpMax * (tps[k] + tps[k - 1]) / tpMax / 2
        }
        return area
    }
}

/// Metrics estimated without labels.
public struct EstimatedMetrics: Sendable, Equatable {
    /// Expected accuracy.
    public var accuracy: Double
    /// Expected macro F1 over the two classes.
    public var f1Macro: Double
    /// Expected ROC-AUC (nil when the scores leave one class with no expected rows).
    public var rocAUC: Double?
}
