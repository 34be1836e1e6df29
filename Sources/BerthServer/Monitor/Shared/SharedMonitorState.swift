import BerthMonitor
import BerthRegistry
import Logging

/// The monitoring state replicas share when they share a PostgreSQL registry: the prediction log
/// (with feedback), the alert states and history, the reference samples and the request counts
/// of the request-window rules, in the registry's database over a pool of their own (logging
/// never waits for the registry's connections).
public struct SharedMonitorState: Sendable {
    /// The log's rows.
    public let predictions: PostgresPredictionStore
    /// Alert rule states and history.
    public let alerts: PostgresAlertStateStore
    /// Reference samples per version.
    public let references: PostgresReferenceStore
    /// Every replica's requests per model and second.
    public let requestCounts: PostgresRequestCountStore

    /// Connects to `url` (tables made by the registry's migrations); `replica` is written beside each logged record.
    public init(url: PostgresURL, replica: String, logger: Logger = Logger(label: "berth.monitor.postgres")) {
        let pool = PostgresPool(url: url, logger: logger)
        predictions = PostgresPredictionStore(pool: pool, replica: replica)
        alerts = PostgresAlertStateStore(pool: pool)
        references = PostgresReferenceStore(pool: pool)
        requestCounts = PostgresRequestCountStore(pool: pool)
    }
}
