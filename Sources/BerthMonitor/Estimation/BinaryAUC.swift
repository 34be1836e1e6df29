/// ROC-AUC of scores against binary truth (ties share rank), as `sklearn.metrics.roc_auc_score`.
enum BinaryAUC {
    /// Nil when one class is absent.
    static func value(scores: [Double], truth: [Bool]) -> Double? {
        let n1 = truth.filter { $0 }.count, n0 = truth.count - n1
        guard n1 > 0, n0 > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0, i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for k in i...j where truth[order[k]] { rankSum += rank }
            i = j + 1
        }
        return (rankSum - Double(n1) * Double(n1 + 1) / 2) / (Double(n1) * Double(n0))
    }
}
