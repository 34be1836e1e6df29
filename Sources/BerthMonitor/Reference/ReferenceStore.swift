import BerthEval
import Crypto
import Foundation

/// What is known of a version's reference sample.
public struct ReferenceInfo: Sendable, Codable, Equatable {
    public var model: String
    public var version: String
    /// Data rows in the sample.
    public var rows: Int
    /// The CSV's columns, in file order.
    public var columns: [String]
    /// The label column, kept for performance estimation; not a feature.
    public var label: String?
    /// SHA-256 of the CSV bytes.
    public var sha256: String
    public var createdAt: Date

    public init(model: String, version: String, rows: Int, columns: [String], label: String?, sha256: String, createdAt: Date) {
        self.model = model
        self.version = version
        self.rows = rows
        self.columns = columns
        self.label = label
        self.sha256 = sha256
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case model, version, rows, columns, label, sha256
        case createdAt = "created_at"
    }

    /// The feature columns: every column but the label.
    public var features: [String] { columns.filter { $0 != label } }
}

/// Reference samples per model version (`DATA_DIR/references/MODEL/VERSION.csv` and `.json`):
/// what the version's live traffic is compared with for drift, and what calibrates its label-free
/// performance estimate. Parsed samples are cached in memory. Replicas sharing a registry share
/// the data directory too (the artifact store), and with it these samples.
public final class ReferenceStore: @unchecked Sendable {
    // @unchecked: `cache` is guarded by `lock`; the rest is immutable.
    /// The `references` folder.
    public let root: URL
    private let lock = NSLock()
    private var cache: [String: (Table, ReferenceInfo)] = [:]

    /// The largest sample accepted.
    public static let maxBytes = 256 << 20

    /// The store in `dataDirectory`.
    public init(dataDirectory: URL) {
        root = dataDirectory.appendingPathComponent("references")
    }

    /// Names that are safe as one path component: no separators, no `..`, no hidden files.
    public static func checkComponent(_ s: String, what: String) throws {
        let ok = !s.isEmpty && s.count <= 128 && s.first != "." && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        guard ok else { throw MonitorError.invalidArgument("\(what) '\(s)' must be letters, digits, '.', '_' or '-' (not starting with '.')") }
    }

    /// Parses a reference sample: a header and at least one row, at most ``maxBytes``, `label`
    /// (when given) one of its columns and at least one other column.
    public static func check(csv: [UInt8], label: String?, source: String = "the reference CSV") throws -> Table {
        guard csv.count <= maxBytes else { throw MonitorError.invalidArgument("\(source) is larger than \(maxBytes >> 20) MiB") }
        let table = try CSVReader.parse(csv, source: source)
        guard table.rowCount > 0 else { throw MonitorError.invalidArgument("\(source) has a header but no rows") }
        if let label, !table.names.contains(label) {
            throw MonitorError.missingColumn(name: label, source: source, available: table.names)
        }
        guard table.names.contains(where: { $0 != label }) else {
            throw MonitorError.invalidArgument("\(source) has no feature column besides the label")
        }
        return table
    }

    /// The description of a checked sample: its shape and the SHA-256 of its bytes.
    public static func describe(_ table: Table, model: String, version: String, csv: [UInt8], label: String?) -> ReferenceInfo {
        ReferenceInfo(model: model, version: version, rows: table.rowCount, columns: table.names, label: label,
                      sha256: SHA256.hash(data: csv).map { String(format: "%02x", $0) }.joined(), createdAt: Date())
    }

    /// Stores `csv` (a header and at least one row; `label`, when given, one of its columns) as
    /// the reference of `model`'s `version`, replacing any earlier one.
    @discardableResult
    public func put(model: String, version: String, csv: [UInt8], label: String?) throws -> ReferenceInfo {
        try Self.checkComponent(model, what: "model name")
        try Self.checkComponent(version, what: "version")
        let table = try Self.check(csv: csv, label: label)
        let info = Self.describe(table, model: model, version: version, csv: csv, label: label)
        let dir = root.appendingPathComponent(model)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            // The CSV first, then the description that makes it visible: a crash leaves the old pair or a stray CSV.
            try Data(csv).write(to: dir.appendingPathComponent("\(version).csv"), options: .atomic)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            encoder.dateEncodingStrategy = .iso8601
            try encoder.encode(info).write(to: dir.appendingPathComponent("\(version).json"), options: .atomic)
        } catch {
            throw MonitorError.invalidArgument("cannot store the reference sample in \(dir.path): \(error.localizedDescription)")
        }
        lock.withLock { cache["\(model)/\(version)"] = (table, info) }
        return info
    }

    /// The reference of `model`'s `version`, or nil when none was stored. The small description
    /// is read each time and the parsed CSV reused while its digest is unchanged: replicas share
    /// the data directory (the artifact store), so a sample replaced through another replica is
    /// seen at once.
    public func get(model: String, version: String) throws -> (table: Table, info: ReferenceInfo)? {
        try Self.checkComponent(model, what: "model name")
        try Self.checkComponent(version, what: "version")
        let key = "\(model)/\(version)"
        let dir = root.appendingPathComponent(model)
        guard let json = try? Data(contentsOf: dir.appendingPathComponent("\(version).json")) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let info = try decoder.decode(ReferenceInfo.self, from: json)
        if let hit = lock.withLock({ cache[key] }), hit.1.sha256 == info.sha256 { return (hit.0, info) }
        let table = try CSVReader.read(contentsOf: dir.appendingPathComponent("\(version).csv"))
        lock.withLock { cache[key] = (table, info) }
        return (table, info)
    }
}
