import BerthEval
import BerthTensor

/// What a model answered for each row of one request, read from its outputs the way
/// `berth eval` reads them: a label output (integers or strings, `[N]` or `[N, 1]`) is a
/// classifier's prediction, else a probability output (float `[N, C]`, C ≥ 2) gives the most
/// probable column, else a value output (float `[N]` or `[N, 1]`) is a regression. Live metrics
/// are computed from this, so feedback never needs the full outputs again.
public enum RowOutcome: Sendable, Equatable, Codable {
    /// One predicted class per row; `scores` is the probability of the second class of a
    /// two-column probability output (the positive class in scikit-learn's order), for ROC-AUC.
    case classes([ClassLabel], scores: [Double]?)
    /// One predicted value per row.
    case values([Double])
    /// The outputs match none of the shapes above (e.g. an embedding).
    case unknown

    /// Reads `outputs` in model order.
    public static func read(_ outputs: [(name: String, tensor: Tensor)]) -> RowOutcome {
        func isLabel(_ t: Tensor) -> Bool {
            !t.dtype.isFloatingPoint && t.dtype != .bool && (t.rank == 1 || (t.rank == 2 && t.shape[1] == 1))
        }
        func isProbability(_ t: Tensor) -> Bool { t.dtype.isFloatingPoint && t.rank == 2 && t.shape[1] >= 2 }
        func isValue(_ t: Tensor) -> Bool { t.dtype.isFloatingPoint && (t.rank == 1 || (t.rank == 2 && t.shape[1] == 1)) }
        func prefer(_ hint: String, _ fits: (Tensor) -> Bool) -> Tensor? {
            let candidates = outputs.filter { fits($0.tensor) }
            return (candidates.first { $0.name.lowercased().contains(hint) } ?? candidates.first)?.tensor
        }
        let probabilities = prefer("prob", isProbability)
        var scores: [Double]?
        if let p = probabilities, p.shape[1] == 2 {
            let d = p.doubles
            scores = stride(from: 1, to: d.count, by: 2).map { d[$0] }
        }
        if let label = prefer("label", isLabel) {
            let labels: [ClassLabel]
            if case let .string(v) = label.storage { labels = v.map(ClassLabel.string) } else { labels = label.doubles.map(ClassLabel.number) }
            return .classes(labels, scores: scores?.count == labels.count ? scores : nil)
        }
        if let p = probabilities {
            let c = p.shape[1], d = p.doubles
            let rows = c > 0 ? d.count / c : 0
            let labels = (0..<rows).map { r -> ClassLabel in
                var best = 0
                for j in 1..<c where d[r * c + j] > d[r * c + best] { best = j }
                return .number(Double(best))
            }
            return .classes(labels, scores: scores)
        }
        if let v = prefer("variable", isValue) { return .values(v.doubles) }
        return .unknown
    }

    /// Rows the outcome covers.
    public var rows: Int {
        switch self {
        case let .classes(l, _): return l.count
        case let .values(v): return v.count
        case .unknown: return 0
        }
    }
}
