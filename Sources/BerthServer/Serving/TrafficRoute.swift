/// How a registry model's requests without a version are spread over its versions: the
/// production version, a canary answering a share of requests, and a shadow that receives a copy
/// of a share of requests whose answers are only compared.
public struct TrafficRoute: Sendable, Equatable {
    /// A share of requests for one version.
    public struct Share: Sendable, Equatable {
        /// The version that receives the share.
        public var version: Int
        /// 0–100.
        public var percent: Double
        /// `percent` is used as given: 0 or less sends nothing, 100 or more sends every request.
        public init(version: Int, percent: Double) {
            self.version = version
            self.percent = percent
        }
    }

    /// Which side of the split answered a request (a metric label).
    public enum Side: String, Sendable {
        /// The default route, the canary's share, or a request that named its version.
        case production, canary, version
    }

    /// The default version; nil when the model has no production alias.
    public var primary: Int?
    /// The version that answers its share of requests instead of `primary`; nil: no canary.
    public var canary: Share?
    /// The version that also runs its share of requests, answers only compared; nil: no shadow.
    public var shadow: Share?

    /// Without `primary`, requests without a version fail (no production alias).
    public init(primary: Int?, canary: Share? = nil, shadow: Share? = nil) {
        self.primary = primary
        self.canary = canary
        self.shadow = shadow
    }

    /// The version that answers a request. With a routing key the choice is a hash of the key,
    /// so one key always lands on the same side; without one it is a random draw.
    public func pick(key: String?) -> (version: Int, side: Side)? {
        guard let primary else { return nil }
        guard let canary, canary.percent > 0 else { return (primary, .production) }
        return Self.falls(in: canary.percent, key: key, salt: 0) ? (canary.version, .canary) : (primary, .production)
    }

    /// The shadow version a request is mirrored to, if this request is in the mirrored share.
    public func mirror(key: String?) -> Int? {
        guard let shadow, shadow.percent > 0 else { return nil }
        return Self.falls(in: shadow.percent, key: key, salt: 0x9E37_79B9_7F4A_7C15) ? shadow.version : nil
    }

    /// True for `percent` % of keys (or of random draws without a key).
    static func falls(in percent: Double, key: String?, salt: UInt64) -> Bool {
        if percent >= 100 { return true }
        guard let key else { return Double.random(in: 0..<100) < percent }
        // FNV-1a: stable across processes and replicas (Swift's Hasher is seeded per process).
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ salt
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01B3
        }
        return Double(h % 10_000) < percent * 100
    }
}
