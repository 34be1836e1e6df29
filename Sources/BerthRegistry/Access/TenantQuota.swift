/// Limits for one tenant, on all its models (`model == "*"`) or on one model. A nil limit is no
/// limit. Requests over a rate get 429 with `Retry-After`.
public struct TenantQuota: Sendable, Codable, Equatable {
    public var tenant: String
    /// A model name, or `*` for the tenant's whole traffic.
    public var model: String
    /// Sustained requests per second (token bucket; bursts up to one second's worth).
    public var requestsPerSecond: Double?
    /// Sustained rows (batch entries) per second.
    public var rowsPerSecond: Double?
    /// Requests in flight at once.
    public var maxConcurrent: Int?
    /// The tenant's share of a model's batching queue when several tenants wait (default 1).
    public var weight: Double

    public init(tenant: String, model: String = "*", requestsPerSecond: Double? = nil, rowsPerSecond: Double? = nil,
                maxConcurrent: Int? = nil, weight: Double = 1) {
        self.tenant = tenant
        self.model = model
        self.requestsPerSecond = requestsPerSecond
        self.rowsPerSecond = rowsPerSecond
        self.maxConcurrent = maxConcurrent
        self.weight = weight
    }

    enum CodingKeys: String, CodingKey {
        case tenant, model, weight
        case requestsPerSecond = "requests_per_second", rowsPerSecond = "rows_per_second", maxConcurrent = "max_concurrent"
    }
}
