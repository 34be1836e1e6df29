/// What kind of model is being evaluated, which decides the metrics.
public enum EvalTask: String, Sendable, Codable, CaseIterable {
    /// Predicted class labels (and probabilities): accuracy, precision/recall/F1, ROC-AUC, log loss.
    case classification
    /// Predicted numbers: MSE, RMSE, MAE, R².
    case regression

    /// The names of the metrics a report of this task has; gates may name these.
    public var metricNames: [String] {
        switch self {
        case .classification:
            return ["accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted",
                    "f1_weighted", "roc_auc", "log_loss"]
        case .regression:
            return ["mse", "rmse", "mae", "r2"]
        }
    }
}
