import Foundation
import Hummingbird

/// Triton's trace extension, `GET/POST /v2/trace/setting` (tritonclient's `get_trace_settings` /
/// `update_trace_settings`), over Berth's OpenTelemetry traces: `trace_level` (`OFF` or
/// `TIMESTAMPS`), `trace_rate` (trace every N-th request), `trace_count` (traces left, -1 no
/// limit). Values are strings, as Triton answers them. The trace file, `log_frequency` and
/// per-model settings have no meaning for an OTLP exporter and are refused.
struct TraceRoutes: Sendable {
    let settings: TraceSettings

    func register(on router: Router<BerthRequestContext>) {
        router.get("/v2/trace/setting") { _, _ in try Response.json(current) }
        router.post("/v2/trace/setting") { req, _ in
            guard let body = try await JSONBody.read([String: SettingValue].self, from: req, limit: 64 << 10) else {
                throw ServerError.badRequest("the body needs trace settings, e.g. {\"trace_rate\": \"10\"}")
            }
            try apply(body)
            return try Response.json(current)
        }
    }

    /// The settings as Triton answers them.
    struct Body: Encodable {
        var traceLevel: [String]
        var traceRate: String
        var traceCount: String
        var logFrequency = "0"
        var traceFile = ""
        var traceMode = "opentelemetry"

        enum CodingKeys: String, CodingKey {
            case traceLevel = "trace_level", traceRate = "trace_rate", traceCount = "trace_count"
            case logFrequency = "log_frequency", traceFile = "trace_file", traceMode = "trace_mode"
        }
    }

    /// A value of a settings request: Triton sends strings (and a list for the level); numbers are accepted too.
    enum SettingValue: Decodable {
        case text(String)
        case list([String])
        case null

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null } else if let s = try? c.decode(String.self) { self = .text(s) } else if let n = try? c.decode(Int.self) {
                self = .text(String(n))
            } else { self = .list(try c.decode([String].self)) }
        }

        /// The value as one string (a one-element list counts).
        var text: String? {
            switch self {
            case let .text(s): return s
            case let .list(l): return l.count == 1 ? l[0] : nil
            case .null: return nil
            }
        }
    }

    /// The current settings.
    var current: Body {
        let c = settings.current
        return Body(traceLevel: [c.on ? "TIMESTAMPS" : "OFF"], traceRate: String(c.rate), traceCount: String(c.count))
    }

    /// Checks every field first, then applies them together.
    func apply(_ body: [String: SettingValue]) throws {
        var on: Bool?, rate: Int?, count: Int?
        for (key, value) in body {
            func text() -> String? { value.text }
            switch key {
            case "trace_level":
                guard let t = text(), ["OFF", "TIMESTAMPS"].contains(t) else {
                    throw ServerError.badRequest("trace_level must be [\"OFF\"] or [\"TIMESTAMPS\"] (Berth's spans carry timestamps, not tensors)")
                }
                on = t == "TIMESTAMPS"
            case "trace_rate":
                guard let t = text(), let v = Int(t), v >= 1 else { throw ServerError.badRequest("trace_rate must be a whole number ≥ 1") }
                rate = v
            case "trace_count":
                guard let t = text(), let v = Int(t), v >= -1 else { throw ServerError.badRequest("trace_count must be -1 (no limit) or a whole number ≥ 0") }
                count = v
            case "log_frequency", "trace_file", "trace_mode":
                guard let t = text(), ["", "0", "opentelemetry"].contains(t) else {
                    throw ServerError.badRequest("\(key): Berth exports traces over OTLP (--otel-endpoint); it writes no trace file")
                }
            default:
                throw ServerError.badRequest("unknown trace setting '\(key)'")
            }
        }
        if on == true, !settings.exporting {
            throw ServerError.badRequest("no trace exporter: start berth serve with --otel-endpoint to trace")
        }
        settings.update(on: on, rate: rate, count: count)
    }
}
