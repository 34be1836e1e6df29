/// Area under the ROC curve, computed as scikit-learn's `roc_auc_score` does: one ROC point per
/// distinct score (tied scores move together), collinear points dropped, the trapezoid rule.
public enum ROCAUC {
    /// The AUC of `scores` for rows where `positive` is true; nil when every row is positive
    /// or every row negative (scikit-learn returns NaN then).
    public static func binary(positive: [Bool], scores: [Double]) -> Double? {
        precondition(positive.count == scores.count, "labels and scores differ in length")
        // Rows by score, highest first; at each distinct score, the cumulative counts.
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var tps: [Double] = [], fps: [Double] = []
        var tp = 0.0, fp = 0.0
        for (k, i) in order.enumerated() {
            if positive[i] { tp += 1 } else { fp += 1 }
            if k == order.count - 1 || scores[order[k + 1]] != scores[i] {
                tps.append(tp)
                fps.append(fp)
            }
        }
        guard tp > 0, fp > 0 else { return nil }
        // roc_curve(drop_intermediate=True): keep the ends and every corner.
        if fps.count > 2 {
            var keep = [0]
            for j in 1..<(fps.count - 1) {
                let d2f = fps[j + 1] - 2 * fps[j] + fps[j - 1], d2t = tps[j + 1] - 2 * tps[j] + tps[j - 1]
                if d2f != 0 || d2t != 0 { keep.append(j) }
            }
            keep.append(fps.count - 1)
            tps = keep.map { tps[$0] }
            fps = keep.map { fps[$0] }
        }
        let fpr = [0] + fps.map { $0 / fp }, tpr = [0] + tps.map { $0 / tp }
        var area = CompensatedSum()
        for j in 1..<fpr.count { area.add((fpr[j] - fpr[j - 1]) * (tpr[j] + tpr[j - 1]) / 2.0) }
        return area.value
    }

    /// One-vs-rest AUC per class and their unweighted mean, as scikit-learn's
    /// `roc_auc_score(multi_class="ovr", average=None / "macro", labels=classes)`.
    /// `probabilities` is row-major `[rows, classes.count]`, columns in `classes` order. A class
    /// absent from `truth` (or present in every row) has no AUC, and then neither has the mean.
    public static func oneVsRest(truth: [ClassLabel], probabilities: [Double], classes: [ClassLabel])
        -> (perClass: [Double?], macro: Double?)
    {
        let c = classes.count
        precondition(probabilities.count == truth.count * c, "probabilities are not [rows, classes]")
        let perClass: [Double?] = classes.enumerated().map { k, label in
            binary(positive: truth.map { $0 == label }, scores: truth.indices.map { probabilities[$0 * c + k] })
        }
        let known = perClass.compactMap { $0 }
        let macro = known.count == c && c > 0 ? known.reduce(0, +) / Double(c) : nil
        return (perClass, macro)
    }
}
