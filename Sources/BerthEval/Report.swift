import BerthGate

/// The result of `berth eval`, as JSON: what was evaluated, every metric by name (gates read
/// these), per-class numbers and the confusion matrix. Keys are snake_case; a metric that is
/// undefined for the data (e.g. ROC-AUC when the data hold one class) is `null`.
public struct Report: Sendable, Codable {
    /// One class's row of the per-class table.
    public struct ClassRow: Sendable, Codable, Equatable {
        /// The class.
        public var label: ClassLabel
        /// TP / (TP + FP).
        public var precision: Double
        /// TP / (TP + FN).
        public var recall: Double
        /// 2·TP / (2·TP + FP + FN).
        public var f1: Double
        /// Rows whose true label is this class.
        public var support: Int
        /// One-vs-rest ROC-AUC of this class (binary models: the positive class only).
        public var rocAUC: Double?

        enum CodingKeys: String, CodingKey {
            case label, precision, recall, f1, support
            case rocAUC = "roc_auc"
        }
    }

    /// Which model outputs were read.
    public struct Outputs: Sendable, Codable, Equatable {
        /// The predicted-label output (classification).
        public var label: String?
        /// The probability output (classification).
        public var probabilities: String?
        /// The predicted-value output (regression).
        public var value: String?
    }

    /// The model file.
    public var model: String
    /// The data file.
    public var data: String
    /// The task.
    public var task: EvalTask
    /// Rows evaluated.
    public var rows: Int
    /// The label (target) column.
    public var labelColumn: String
    /// The outputs the metrics came from.
    public var outputs: Outputs
    /// Classification: the classes of the probability columns, sorted (scikit-learn's order).
    public var classes: [ClassLabel]?
    /// Classification: where the model's own column order was found (ZipMap, classifier node ...).
    public var classOrder: ClassOrder.Source?
    /// Every metric by name (``EvalTask/metricNames``); nil when undefined.
    public var metrics: [String: Double?]
    /// Classification: precision, recall, F1, support (and ROC-AUC) per label.
    public var perClass: [ClassRow]?
    /// Classification: the confusion matrix (rows true, columns predicted).
    public var confusionMatrix: ConfusionMatrix?
    /// Gates checked against the metrics, if any were given.
    public var gates: [GateResult]?
    /// False when some gate missed; nil without gates.
    public var passed: Bool?
    /// Why a metric is missing, and other things worth knowing.
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case model, data, task, rows, outputs, classes, metrics, gates, passed, notes
        case labelColumn = "label_column"
        case classOrder = "class_order"
        case perClass = "per_class"
        case confusionMatrix = "confusion_matrix"
    }

    /// A metric's value, nil when it is undefined or not in the report.
    public func metric(_ name: String) -> Double? { metrics[name] ?? nil }

    /// Checks gates against the metrics and records the results in ``gates`` and ``passed``.
    public mutating func apply(_ gates: [Gate]) {
        let results = gates.map { $0.check(self) }
        self.gates = results
        passed = results.allSatisfy(\.passed)
    }
}
