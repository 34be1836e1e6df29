import BerthProtocol
import Foundation

/// One JSON line per inference request (`berth serve --access-log FILE|-`): when, which model,
/// version and traffic side answered, the status, rows, and the queue / compute / total times.
/// Lines are written by one background queue, in order, so the request path only formats one.
public final class AccessLog: InferenceObserver, @unchecked Sendable {
    /// One line of the log.
    struct Line: Encodable {
        var time: String
        var id: String?
        var transport: String
        var model: String
        var version: String?
        var route: String?
        var status: Int
        var error: String?
        var rows: Int
        var queueMs: Double?
        var computeMs: Double?
        var totalMs: Double

        enum CodingKeys: String, CodingKey {
            case time, id, transport, model, version, route, status, error, rows
            case queueMs = "queue_ms", computeMs = "compute_ms", totalMs = "total_ms"
        }
    }

    private let handle: FileHandle
    private let queue = DispatchQueue(label: "berth.access-log")
    /// Used on `queue` only.
    private let timeFormat: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
    private let closeOnDeinit: Bool

    /// A log appended to `path`, or standard output for `-`.
    public init(path: String) throws {
        if path == "-" {
            handle = FileHandle.standardOutput
            closeOnDeinit = false
        } else {
            if !FileManager.default.fileExists(atPath: path) {
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    throw ServerError.badRequest("cannot create the access log '\(path)'")
                }
            }
            guard let h = FileHandle(forWritingAtPath: path) else { throw ServerError.badRequest("cannot open the access log '\(path)'") }
            h.seekToEndOfFile()
            handle = h
            closeOnDeinit = true
        }
    }

    deinit {
        let h = handle
        queue.sync { if closeOnDeinit { try? h.close() } }
    }

    public func finished(_ event: InferenceEvent) {
        func ms(_ ns: UInt64) -> Double { (Double(ns) / 1e4).rounded() / 100 }
        let line = Line(
            time: "",
            id: event.request?.id, transport: event.target.transport, model: event.target.model,
            version: event.servable?.versionString ?? event.target.version, route: event.side?.rawValue,
            status: Int(event.error?.status.code ?? 200), error: event.error?.description, rows: event.rows,
            queueMs: event.timing.map { ms($0.queueNs) },
            computeMs: event.timing.map { ms($0.inputNs + $0.inferNs + $0.outputNs) }, totalMs: ms(event.totalNs))
        let now = Date()
        queue.async { [self] in
            var line = line
            line.time = timeFormat.string(from: now)
            guard var data = try? CodableJSON.encoder.encode(line) else { return }
            data.append(0x0A)
            handle.write(data)
        }
    }

    /// Waits until every line handed over so far is written.
    public func flush() { queue.sync {} }
}
