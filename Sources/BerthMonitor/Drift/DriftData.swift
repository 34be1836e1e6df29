import BerthEval
import Foundation

/// The reference and current files of a drift check, paired column by column.
public struct DriftData: Sendable {
    /// The feature columns to test, in the reference file's order.
    public let features: [FeatureColumn]
    /// The prediction column, when one was named.
    public let prediction: FeatureColumn?

    /// Reads both CSV files. They must have the same columns (in any order). `columns` limits the
    /// features tested (default: every column but the prediction); `prediction` names a column
    /// tested apart.
    public init(reference: URL, current: URL, columns: [String]? = nil, prediction: String? = nil) throws {
        let ref = try DriftData.read(reference), cur = try DriftData.read(current)
        try self.init(reference: ref, current: cur, columns: columns, prediction: prediction)
    }

    /// Pairs two tables (see ``init(reference:current:columns:prediction:)``).
    public init(reference ref: Table, current cur: Table, columns: [String]? = nil, prediction: String? = nil) throws {
        let refNames = Set(ref.names), curNames = Set(cur.names)
        guard refNames == curNames else {
            for t in [ref, cur] where t.names.contains(where: { Column.parseNumber($0) != nil }) {
                throw MonitorError.invalidArgument("\(t.source) has no header row, or a different one: its first line "
                    + "holds numbers (\(t.names.joined(separator: ","))), and its columns do not match the other file's")
            }
            throw MonitorError.columnMismatch(reference: ref.source, current: cur.source,
                                              onlyInReference: ref.names.filter { !curNames.contains($0) },
                                              onlyInCurrent: cur.names.filter { !refNames.contains($0) })
        }
        for name in (columns ?? []) + (prediction.map { [$0] } ?? []) where !refNames.contains(name) {
            throw MonitorError.missingColumn(name: name, source: ref.source, available: ref.names)
        }
        func pair(_ name: String) throws -> FeatureColumn {
            // Both lookups succeed: the names were checked above.
            try FeatureColumn(reference: try ref.column(name, purpose: "drift"), current: try cur.column(name, purpose: "drift"),
                              referenceSource: ref.source, currentSource: cur.source)
        }
        let wanted = (columns ?? ref.names).filter { $0 != prediction }
        var seen = Set<String>()
        features = try wanted.filter { seen.insert($0).inserted }.map(pair)
        self.prediction = try prediction.map(pair)
    }

    /// Reads a CSV file, naming it in every error. A first line of numbers is a missing header.
    static func read(_ url: URL) throws -> Table {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MonitorError.invalidArgument("no such file: \(url.path)")
        }
        let table: Table
        do { table = try CSVReader.read(contentsOf: url) } catch let e as EvalError {
            switch e {
            case .emptyFile, .noRows, .invalidArgument: throw e
            default: throw MonitorError.invalidArgument("\(url.path): \(e)")
            }
        }
        if table.names.allSatisfy({ Column.parseNumber($0) != nil }) {
            throw MonitorError.invalidArgument("\(url.path) has no header row: its first line holds numbers, not column names")
        }
        return table
    }
}
