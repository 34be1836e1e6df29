/// Decides, column by column, whether current data drifted from reference data, with Evidently's
/// `DataDriftPreset` defaults:
/// - a column is numerical when it holds numbers, except integers (in the current file, none
///   missing) with at most 10 distinct values, which are categories (Evidently's type inference);
/// - reference ≤ 1,000 rows: numerical columns with more than 5 distinct values (both files
///   together) → two-sample KS (drift when p ≤ 0.05); other columns → chi-squared, or the Z-test
///   when there are at most two categories (drift when p < 0.05);
/// - reference > 1,000 rows: numbers with more than 5 distinct values → Wasserstein distance over
///   the reference's standard deviation, categories → Jensen–Shannon distance; drift when ≥ 0.1;
/// - the data set drifted when at least half of the columns did.
public struct DriftDetector: Sendable {
    /// Per-column method overrides.
    public var methods: [String: DriftMethod]
    /// Per-column threshold overrides (the method's default otherwise).
    public var thresholds: [String: Double]
    /// The share of drifted columns at which the data set counts as drifted.
    public var driftShare: Double

    /// Evidently's row count above which distances replace hypothesis tests.
    public static let largeReference = 1_000
    /// Numerical columns with at most this many distinct values are tested as categories.
    public static let maxCategoricalValues = 5
    /// Integer columns with at most this many distinct values are categorical.
    public static let integerCardinalityLimit = 10

    /// A detector with per-column overrides.
    public init(methods: [String: DriftMethod] = [:], thresholds: [String: Double] = [:], driftShare: Double = 0.5) {
        self.methods = methods
        self.thresholds = thresholds
        self.driftShare = driftShare
    }

    /// How Evidently would test this column by default: its kind and method.
    public static func defaultMethod(for column: FeatureColumn) -> (FeatureKind, DriftMethod) {
        let distinct = column.distinctCount
        let numericalType = column.isNumeric
            && !(column.currentIsInteger && column.current.distinctCount <= integerCardinalityLimit)
        let kind: FeatureKind = numericalType && distinct > maxCategoricalValues ? .numerical : .categorical
        if column.reference.count <= largeReference {
            if kind == .numerical { return (kind, .ks) }
            return (kind, distinct > 2 ? .chisquare : .z)
        }
        return (kind, kind == .numerical ? .wasserstein : .jensenshannon)
    }

    /// Tests one column.
    public func test(_ column: FeatureColumn) throws -> FeatureDrift {
        let (kind, chosen) = DriftDetector.defaultMethod(for: column)
        let method = methods[column.name] ?? chosen
        let threshold = thresholds[column.name] ?? method.defaultThreshold
        let result = try DriftDetector.run(method, on: column)
        return FeatureDrift(type: kind, method: method, statistic: result.statistic, pValue: result.pValue,
                            threshold: threshold, drifted: method.drifted(result, threshold: threshold))
    }

    /// Tests every feature column (and the prediction column, reported apart and not counted in
    /// the drift share, as Evidently's dataset drift counts only the columns it was asked about).
    public func report(features: [FeatureColumn], prediction: FeatureColumn? = nil) throws -> DriftReport {
        var results: [String: FeatureDrift] = [:]
        for f in features { results[f.name] = try test(f) }
        let drifted = results.values.filter(\.drifted).count
        let share = features.isEmpty ? 0 : Double(drifted) / Double(features.count)
        return DriftReport(datasetDrift: !features.isEmpty && share >= driftShare, driftShare: share,
                           driftedFeatures: drifted, features: results, prediction: try prediction.map(test))
    }

    /// The statistic of `method` on a column.
    public static func run(_ method: DriftMethod, on column: FeatureColumn) throws -> TestResult {
        if method.needsNumbers {
            guard case let .numbers(r) = column.reference, case let .numbers(c) = column.current else {
                throw MonitorError.methodNotApplicable(method: method.rawValue, column: column.name, reason: "it holds text, not numbers")
            }
            if method == .ks { return try KolmogorovSmirnov.twoSample(r, c) }
            return TestResult(statistic: try Wasserstein.normed(reference: r, current: c), pValue: nil)
        }
        switch method {
        case .chisquare:
            return try ChiSquare.categorical(reference: column.reference.categories, current: column.current.categories)
        case .z:
            return try ZTest.categorical(reference: column.reference.categories, current: column.current.categories)
        case .jensenshannon:
            return TestResult(statistic: try JensenShannon.samples(reference: column.reference, current: column.current), pValue: nil)
        default:
            return TestResult(statistic: PSI.samples(reference: column.reference, current: column.current), pValue: nil)
        }
    }
}
