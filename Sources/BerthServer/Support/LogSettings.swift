import Logging

/// The server's log level, changeable while it runs through Triton's `GET/POST /v2/logging`.
/// Loggers made by ``LogSettings/handler(label:)`` follow it unless code sets a level of its own
/// on them (the engine's quieter logger does).
public final class LogSettings: Sendable {
    /// The process-wide settings `berth serve` bootstraps its log handlers with.
    public static let shared = LogSettings()

    private let state = Locked<(level: Logger.Level, format: String)>((.info, "default"))

    /// The level every following logger logs at.
    public var level: Logger.Level {
        get { state.withLock { $0.level } }
        set { state.withLock { $0.level = newValue } }
    }

    /// Triton's `log_format` as last set (`default` or `ISO8601`; Berth's lines carry ISO 8601 times either way).
    var format: String {
        get { state.withLock { $0.format } }
        set { state.withLock { $0.format = newValue } }
    }

    /// A standard-error handler whose level is ``level`` until a logger sets its own.
    public static func handler(label: String) -> any LogHandler {
        FollowingLogHandler(inner: StreamLogHandler.standardError(label: label), settings: shared)
    }
}

/// Forwards to a `StreamLogHandler`, reading the level from ``LogSettings`` at every check.
struct FollowingLogHandler: LogHandler {
    var inner: StreamLogHandler
    let settings: LogSettings
    /// A level the logger's owner set; nil follows the settings.
    var own: Logger.Level?

    init(inner: StreamLogHandler, settings: LogSettings) {
        self.inner = inner
        self.settings = settings
    }

    var logLevel: Logger.Level {
        get { own ?? settings.level }
        set { own = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        inner.log(event: event)
    }
}
