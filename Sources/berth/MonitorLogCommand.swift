import ArgumentParser
import BerthEval
import BerthMonitor
import BerthRegistry
import BerthServer
import Foundation

/// `berth monitor log`: exports the prediction log a server recorded (`--prediction-log-sample`).
struct MonitorLogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Export a model's logged predictions (and feedback labels) as CSV or JSON lines.",
        discussion: """
            Reads DATA_DIR/predictions.sqlite, which berth serve --prediction-log-sample writes. CSV has one line \
            per row of each request: id, time, version, route, latency_ms, then every input and output column \
            (a tensor [N, k] gives NAME_0 … NAME_k-1), then label when feedback arrived — so an export can be \
            the --current file of berth drift. JSON lines have one request each, tensors as the V2 protocol writes them.
            """
    )

    @Argument(help: "The model's name.")
    var model: String

    @Option(help: "Only this version.")
    var version: String?

    @Option(help: ArgumentHelp("Only records from this time on: ISO-8601 (2026-12-02T10:00:00Z) or an age (30m, 2h, 7d).", valueName: "time"))
    var since: String?

    @Option(help: ArgumentHelp("csv or jsonl.", valueName: "format"))
    var format = "csv"

    @Option(help: ArgumentHelp("The server's data directory (default: $BERTH_DATA_DIR or ./berth-data).", valueName: "dir"))
    var dataDir: String?

    @Option(help: ArgumentHelp("The replicas' PostgreSQL registry (postgres://…; default: $BERTH_REGISTRY_URL): read the log they share.", valueName: "url"))
    var registryUrl: String?

    func run() throws {
        try exitTwoOnBadInput {
            guard ["csv", "jsonl"].contains(format) else { throw CLIError("--format must be csv or jsonl") }
            let from = try since.map(Self.parseSince)
            let dir = URL(fileURLWithPath: dataDir ?? ProcessInfo.processInfo.environment["BERTH_DATA_DIR"] ?? "berth-data")
            let log = try RegistryBackend.url(registryUrl).map { PredictionLog(store: SharedMonitorState(url: try PostgresURL($0), replica: "").predictions) }
                ?? PredictionLog.existing(in: dir)
            let records = try log.records(model: model, version: version, since: from)
            let out = FileHandle.standardOutput
            if format == "jsonl" {
                for r in records { out.write(Data((try Self.jsonLine(r) + "\n").utf8)) }
            } else {
                out.write(Data(try Self.csv(records).utf8))
            }
        }
    }

    /// An ISO-8601 time, or now minus an age.
    static func parseSince(_ s: String) throws -> Date {
        if let d = ISO8601DateFormatter().date(from: s) { return d }
        if s.contains(where: \.isLetter), let age = DurationText.seconds(s) { return Date().addingTimeInterval(-age) }
        throw CLIError("--since '\(s)' is neither an ISO-8601 time nor an age such as 30m, 2h or 7d")
    }

    /// One request as a JSON object; its tensors as they were stored.
    static func jsonLine(_ r: LoggedPrediction) throws -> String {
        let labels: Any = r.labels.map { $0.map(labelValue) } ?? NSNull()
        let object: [String: Any] = [
            "id": r.id, "time": ISO8601DateFormatter().string(from: r.time), "model": r.model, "version": r.version,
            "route": r.route ?? NSNull(), "transport": r.transport, "rows": r.rows, "latency_ms": r.latencyMs,
            "inputs": try JSONSerialization.jsonObject(with: Data(r.inputs.utf8)),
            "outputs": try JSONSerialization.jsonObject(with: Data(r.outputs.utf8)), "labels": labels,
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    static func labelValue(_ l: ClassLabel) -> Any {
        switch l {
        case let .number(v): return v
        case let .string(s): return s
        }
    }

    /// CSV with a header; fields quoted when they hold a comma, quote or line break.
    static func csv(_ records: [LoggedPrediction]) throws -> String {
        let field = CSVText.field
        var lines: [String] = [], header: [String]?
        let time = ISO8601DateFormatter()
        for r in records {
            let inputs = LoggedColumns(json: r.inputs, rows: r.rows), outputs = LoggedColumns(json: r.outputs, rows: r.rows)
            let names = ["id", "time", "version", "route", "latency_ms"] + inputs.names + outputs.names + ["label"]
            if header == nil {
                header = names
                lines.append(names.map(field).joined(separator: ","))
            } else if header != names {
                continue  // a record of another signature (a version with other inputs) would break the columns
            }
            for row in 0..<r.rows {
                let label = r.labels.flatMap { row < $0.count ? $0[row].description : nil } ?? ""
                let values = [r.id, time.string(from: r.time), r.version, r.route ?? "", "\(r.latencyMs)"]
                    + inputs.rows[row] + outputs.rows[row] + [label]
                lines.append(values.map(field).joined(separator: ","))
            }
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }
}
