/// The drift of a data set: one ``FeatureDrift`` per column, and whether enough of them drifted.
/// Encodes as `berth drift --json` prints it.
public struct DriftReport: Sendable, Codable, Equatable {
    /// True when the share of drifted columns reached the detector's drift share (0.5).
    public var datasetDrift: Bool
    /// Drifted columns over columns tested (the prediction column not counted).
    public var driftShare: Double
    /// How many columns drifted.
    public var driftedFeatures: Int
    /// Each tested column's result, by name.
    public var features: [String: FeatureDrift]
    /// The prediction column's result, when one was named.
    public var prediction: FeatureDrift?

    enum CodingKeys: String, CodingKey {
        case datasetDrift = "dataset_drift", driftShare = "drift_share", driftedFeatures = "drifted_features"
        case features, prediction
    }

    /// Omits `prediction` when there is none.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(datasetDrift, forKey: .datasetDrift)
        try c.encode(driftShare, forKey: .driftShare)
        try c.encode(driftedFeatures, forKey: .driftedFeatures)
        try c.encode(features, forKey: .features)
        try c.encodeIfPresent(prediction, forKey: .prediction)
    }
}

/// One column's drift test.
public struct FeatureDrift: Sendable, Codable, Equatable {
    /// Numbers or categories.
    public var type: FeatureKind
    /// The method used.
    public var method: DriftMethod
    /// The test statistic or distance (infinite χ² is encoded as null, JSON having no infinity).
    public var statistic: Double
    /// The p-value (hypothesis tests only).
    public var pValue: Double?
    /// The threshold applied: a p-value below it, or a distance at or above it, is drift.
    public var threshold: Double
    /// Whether the column drifted.
    public var drifted: Bool

    enum CodingKeys: String, CodingKey {
        case type, method, statistic, pValue = "p_value", threshold, drifted
    }

    /// A result from its parts.
    public init(type: FeatureKind, method: DriftMethod, statistic: Double, pValue: Double?, threshold: Double, drifted: Bool) {
        self.type = type
        self.method = method
        self.statistic = statistic
        self.pValue = pValue
        self.threshold = threshold
        self.drifted = drifted
    }

    /// Writes `p_value` as null for distances, and non-finite numbers as null.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(method, forKey: .method)
        if statistic.isFinite { try c.encode(statistic, forKey: .statistic) } else { try c.encodeNil(forKey: .statistic) }
        if let p = pValue, p.isFinite { try c.encode(p, forKey: .pValue) } else { try c.encodeNil(forKey: .pValue) }
        try c.encode(threshold, forKey: .threshold)
        try c.encode(drifted, forKey: .drifted)
    }

    /// Reads what ``encode(to:)`` writes (a null statistic is +∞).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(FeatureKind.self, forKey: .type)
        method = try c.decode(DriftMethod.self, forKey: .method)
        statistic = try c.decodeIfPresent(Double.self, forKey: .statistic) ?? .infinity
        pValue = try c.decodeIfPresent(Double.self, forKey: .pValue)
        threshold = try c.decode(Double.self, forKey: .threshold)
        drifted = try c.decode(Bool.self, forKey: .drifted)
    }
}
