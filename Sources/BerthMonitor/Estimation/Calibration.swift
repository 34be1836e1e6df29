import BerthEngine

/// NannyML's rule for calibrating a binary classifier's scores before estimating with them: fit
/// isotonic regression on 90 % of the reference rows and compare the expected calibration error
/// (ECE) of the other 10 % before and after, over 10 stratified splits pooled; calibrate only when
/// the ECE drops. Scores with one class only, or a reference ROC-AUC above 0.999, are left alone.
///
/// NannyML draws its splits with scikit-learn's `StratifiedShuffleSplit(random_state=42)`; Berth
/// draws splits of the same sizes from its own seeded generator, so the decision can differ from
/// NannyML's only when calibration barely changes the ECE (where it barely changes the estimate).
public enum Calibration {
    /// The calibrator to apply: isotonic regression fitted on every reference row, or nil.
    public static func calibrator(scores: [Double], truth: [Bool], splits: Int = 10, bins: Int = 10) throws -> IsotonicRegression? {
        guard scores.count == truth.count, scores.count >= 2 * 2 else { return nil }
        let positives = truth.filter { $0 }.count
        if positives == 0 || positives == truth.count { return nil }
        if let auc = BinaryAUC.value(scores: scores, truth: truth), auc > 0.999 { return nil }
        var rng = SplitMix64(seed: 42)
        let classes = [truth.indices.filter { truth[$0] }, truth.indices.filter { !truth[$0] }]
        var testTruth: [Bool] = [], before: [Double] = [], after: [Double] = []
        for _ in 0..<splits {
            var train: [Int] = [], test: [Int] = []
            for members in classes {
                let shuffled = rng.shuffled(members)
                // Each class gives about 10 % of its rows to the test set (at least one when it can spare it).
                let nTest = min(max(Int((Double(members.count) * 0.1).rounded()), 1), members.count - 1)
                test += shuffled.prefix(nTest)
                train += shuffled.dropFirst(nTest)
            }
            let iso = try IsotonicRegression(x: train.map { scores[$0] }, y: train.map { truth[$0] ? 1 : 0 })
            for i in test {
                testTruth.append(truth[i])
                before.append(scores[i])
                after.append(iso.predict(scores[i]))
            }
        }
        let edges = try binEdges(count: before.count, bins: bins)
        let eceBefore = expectedCalibrationError(truth: testTruth, scores: before, edges: edges)
        let eceAfter = expectedCalibrationError(truth: testTruth, scores: after, edges: edges)
        guard eceBefore > eceAfter else { return nil }
        return try IsotonicRegression(x: scores, y: truth.map { $0 ? 1 : 0 })
    }

    /// NannyML's equal-count bins over rows sorted by score: width n / bins, the last bin taking the rest.
    static func binEdges(count n: Int, bins requested: Int) throws -> [(Int, Int)] {
        var bins = requested
        if n <= 2 * bins {
            bins = n / 2
            guard bins >= 2 else { throw MonitorError.undefined("too few rows (\(n)) to measure calibration") }
        }
        let width = n / bins
        var edges = Array(stride(from: 0, through: n, by: width))
        edges[edges.count - 1] = n
        return zip(edges.dropLast(), edges.dropFirst()).map { ($0, $1) }
    }

    /// Σ over bins of (bin share) · |mean score − share of positives|.
    static func expectedCalibrationError(truth: [Bool], scores: [Double], edges: [(Int, Int)]) -> Double {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var total = 0.0
        for (l, r) in edges where r > l {
            let rows = order[l..<r]
            let meanScore = rows.reduce(0) { $0 + scores[$1] } / Double(r - l)
            let meanTruth = Double(rows.filter { truth[$0] }.count) / Double(r - l)
            total += Double(r - l) / Double(scores.count) * abs(meanScore - meanTruth)
        }
        return total
    }
}

extension SplitMix64 {
    /// Fisher–Yates with this (deterministic) generator, for reproducible splits.
    mutating func shuffled<T>(_ values: [T]) -> [T] {
        var a = values
        guard a.count > 1 else { return a }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
        return a
    }
}
