import BerthEval

/// One file's usable values of one column (missing values already dropped): numbers, or
/// categories (text, or numbers treated as categories).
public enum FeatureSample: Sendable, Equatable {
    /// Numeric values.
    case numbers([Double])
    /// Text values.
    case strings([String])

    /// The number of values.
    public var count: Int {
        switch self {
        case let .numbers(v): return v.count
        case let .strings(v): return v.count
        }
    }

    /// The values as categories (numbers stay numbers, so 1 and 1.0 are one category, as in pandas).
    public var categories: [ClassLabel] {
        switch self {
        case let .numbers(v): return v.map(ClassLabel.number)
        case let .strings(v): return v.map(ClassLabel.string)
        }
    }

    /// The number of distinct values.
    public var distinctCount: Int {
        switch self {
        case let .numbers(v): return Set(v).count
        case let .strings(v): return Set(v).count
        }
    }
}
