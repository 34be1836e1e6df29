import BerthEval

/// A version's metrics on its labelled traffic (feedback joined to logged predictions), as
/// `sklearn.metrics` computes them: accuracy, macro F1 and (binary, with probabilities) ROC-AUC
/// for a classifier; RMSE and MAE for a regressor.
public struct RealizedPerformance: Sendable, Equatable, Codable {
    /// `classification` or `regression`.
    public var task: String
    /// Labelled rows the metrics cover.
    public var samples: Int
    public var accuracy: Double?
    public var f1Macro: Double?
    public var rocAUC: Double?
    public var rmse: Double?
    public var mae: Double?

    enum CodingKeys: String, CodingKey {
        case task, samples, accuracy, rmse, mae
        case f1Macro = "f1_macro", rocAUC = "roc_auc"
    }

    /// The metric a rule or gauge names (`accuracy`, `f1_macro`, `roc_auc`, `rmse`, `mae`).
    public func value(_ metric: String) -> Double? {
        switch metric {
        case "accuracy": return accuracy
        case "f1_macro", "f1": return f1Macro
        case "roc_auc": return rocAUC
        case "rmse": return rmse
        case "mae": return mae
        default: return nil
        }
    }

    /// Metrics over the newest `window` labelled rows of `records` (newest first); nil when
    /// none is labelled or the outputs are neither classes nor values.
    public static func compute(_ records: [LoggedPrediction], window: Int) -> RealizedPerformance? {
        var predictedClasses: [ClassLabel] = [], truthClasses: [ClassLabel] = [], scores: [Double] = []
        var predictedValues: [Double] = [], truthValues: [Double] = []
        var hasScores = true, isClassification: Bool?
        outer: for r in records {
            guard let labels = r.labels else { continue }
            switch r.outcome {
            case let .classes(predicted, s):
                if isClassification == false { continue }
                isClassification = true
                if s == nil { hasScores = false }
                for i in predicted.indices.reversed() where i < labels.count {
                    if truthClasses.count >= window { break outer }
                    predictedClasses.append(predicted[i])
                    truthClasses.append(coerce(labels[i], like: predicted[i]))
                    if let s { scores.append(s[i]) }
                }
            case let .values(predicted):
                if isClassification == true { continue }
                isClassification = false
                for i in predicted.indices.reversed() where i < labels.count {
                    if truthValues.count >= window { break outer }
                    guard case let .number(t) = labels[i] else { continue }
                    predictedValues.append(predicted[i])
                    truthValues.append(t)
                }
            case .unknown: continue
            }
        }
        switch isClassification {
        case true?:
            guard !truthClasses.isEmpty else { return nil }
            let m = ClassificationMetrics(truth: truthClasses, predicted: predictedClasses)
            var auc: Double?
            // Binary ROC-AUC from the positive-class probability: the larger of the two labels.
            let classes = Set(truthClasses).union(predictedClasses).sorted()
            if hasScores, scores.count == truthClasses.count, classes.count == 2 {
                auc = ROCAUC.binary(positive: truthClasses.map { $0 == classes[1] }, scores: scores)
            }
            return RealizedPerformance(task: "classification", samples: truthClasses.count, accuracy: m.accuracy,
                                       f1Macro: m.macro.f1, rocAUC: auc)
        case false?:
            guard !truthValues.isEmpty else { return nil }
            let m = RegressionMetrics(truth: truthValues, predicted: predictedValues)
            return RealizedPerformance(task: "regression", samples: truthValues.count, rmse: m.rmse, mae: m.mae)
        case nil:
            return nil
        }
    }

    /// Feedback `"1"` for a model predicting numbers is the number 1, and `3` for a model
    /// predicting strings is `"3"`: clients send labels in whatever JSON type they hold.
    static func coerce(_ label: ClassLabel, like predicted: ClassLabel) -> ClassLabel {
        switch (label, predicted) {
        case let (.string(s), .number): return Double(s).map(ClassLabel.number) ?? label
        case (.number, .string): return .string(label.description)
        default: return label
        }
    }

    init(task: String, samples: Int, accuracy: Double? = nil, f1Macro: Double? = nil, rocAUC: Double? = nil,
         rmse: Double? = nil, mae: Double? = nil) {
        self.task = task
        self.samples = samples
        self.accuracy = accuracy
        self.f1Macro = f1Macro
        self.rocAUC = rocAUC
        self.rmse = rmse
        self.mae = mae
    }
}
