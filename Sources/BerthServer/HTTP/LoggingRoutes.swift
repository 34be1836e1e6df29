import Foundation
import Hummingbird
import Logging

/// Triton's logging extension, `GET/POST /v2/logging` (tritonclient's `get_log_settings` /
/// `update_log_settings`): the server's log level, changed while it runs. Berth logs to standard
/// error only, so `log_file` is always empty and a request to set one is refused.
struct LoggingRoutes: Sendable {
    let settings: LogSettings

    /// The settings in Triton's JSON shape.
    struct Body: Codable, Equatable {
        var logFile: String?
        var logInfo: Bool?
        var logWarning: Bool?
        var logError: Bool?
        var logVerboseLevel: Int?
        var logFormat: String?

        enum CodingKeys: String, CodingKey {
            case logFile = "log_file", logInfo = "log_info", logWarning = "log_warning", logError = "log_error"
            case logVerboseLevel = "log_verbose_level", logFormat = "log_format"
        }
    }

    func register(on router: Router<BerthRequestContext>) {
        router.get("/v2/logging") { _, _ in try Response.json(current) }
        router.post("/v2/logging") { req, _ in
            guard let body = try await JSONBody.read(Body.self, from: req, limit: 64 << 10) else {
                throw ServerError.badRequest("the body needs log settings, e.g. {\"log_verbose_level\": 1}")
            }
            try apply(body)
            return try Response.json(current)
        }
    }

    /// What the level means in Triton's terms: verbose 1 is debug, 2 is trace.
    var current: Body {
        let level = settings.level
        return Body(logFile: "", logInfo: level <= .info, logWarning: level <= .warning, logError: level <= .error,
                    logVerboseLevel: level == .trace ? 2 : level == .debug ? 1 : 0, logFormat: settings.format)
    }

    /// Applies the fields present on top of the current settings; a bad value changes nothing.
    func apply(_ body: Body) throws {
        if let file = body.logFile, !file.isEmpty {
            throw ServerError.badRequest("log_file: Berth logs to standard error only; redirect it to keep a file")
        }
        if let format = body.logFormat, !["default", "ISO8601"].contains(format) {
            throw ServerError.badRequest("log_format must be \"default\" or \"ISO8601\", got \"\(format)\"")
        }
        if let v = body.logVerboseLevel, v < 0 { throw ServerError.badRequest("log_verbose_level must be 0 or more") }
        var now = current
        now.logInfo = body.logInfo ?? now.logInfo
        now.logWarning = body.logWarning ?? now.logWarning
        now.logError = body.logError ?? now.logError
        now.logVerboseLevel = body.logVerboseLevel ?? now.logVerboseLevel
        let level: Logger.Level
        switch (now.logVerboseLevel ?? 0, now.logInfo == true, now.logWarning == true, now.logError == true) {
        case (2..., _, _, _): level = .trace
        case (1, _, _, _): level = .debug
        case (_, true, _, _): level = .info
        case (_, _, true, _): level = .warning
        case (_, _, _, true): level = .error
        default: level = .critical
        }
        settings.level = level
        if let format = body.logFormat { settings.format = format }
    }
}
