import BerthMonitor
import BerthRegistry
import Logging

/// The monitoring state replicas share when they share a PostgreSQL registry: the prediction log
/// (with feedback) and the alert states and history, in the registry's database over a pool of
/// their own (logging never waits for the registry's connections). Reference samples live in the
/// shared data directory, the artifact store (``ReferenceStore``).
public struct SharedMonitorState: Sendable {
    /// The log's rows.
    public let predictions: PostgresPredictionStore
    /// Alert rule states and history.
    public let alerts: PostgresAlertStateStore

    /// Connects to `url` (tables made by the registry's migrations); `replica` is written beside each logged record.
    public init(url: PostgresURL, replica: String, logger: Logger = Logger(label: "berth.monitor.postgres")) {
        let pool = PostgresPool(url: url, logger: logger)
        predictions = PostgresPredictionStore(pool: pool, replica: replica)
        alerts = PostgresAlertStateStore(pool: pool)
    }
}
