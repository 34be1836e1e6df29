import BerthEval
import Foundation

/// The labelled logged rows a `retrain` action hands to its command: features as columns (under
/// the reference sample's names when the version has one, so the command sees the columns it
/// was trained on; else the logged input columns) and the true label last.
public enum RetrainData {
    /// A table of `records` (oldest first), one row per labelled row, with `label` as its last column.
    public static func table(_ records: [LoggedPrediction], reference: ReferenceInfo?, label: String) throws -> Table {
        let labelled = records.filter { ($0.labels?.count ?? 0) == $0.rows && $0.rows > 0 }
        guard !labelled.isEmpty else { throw MonitorError.invalidArgument("no labelled rows in the prediction log yet") }
        let features: Table
        if let reference {
            features = try LiveTable.build(labelled, reference: reference)
        } else {
            var names: [String]?, cells: [[String]] = [], rows = 0
            for r in labelled {
                let logged = LoggedColumns(json: r.inputs, rows: r.rows)
                if names == nil {
                    names = logged.names
                    cells = Array(repeating: [], count: logged.names.count)
                }
                guard logged.names == names else {
                    throw MonitorError.invalidArgument("the logged requests have different inputs (\(names!.joined(separator: ", ")) and "
                        + "\(logged.names.joined(separator: ", "))); store a reference sample to name the features")
                }
                for row in logged.rows {
                    for (c, v) in row.enumerated() { cells[c].append(v) }
                    rows += 1
                }
            }
            features = try Table(source: "the logged traffic", columns: zip(names!, cells).map { Column(name: $0, text: $1) }, rowCount: rows)
        }
        guard !features.columns.contains(where: { $0.name == label }) else {
            throw MonitorError.invalidArgument("the label column '\(label)' is also a feature name")
        }
        let labels = labelled.flatMap { $0.labels! }.map(\.description)
        return try Table(source: "the logged labelled traffic", columns: features.columns + [Column(name: label, text: labels)],
                         rowCount: features.rowCount)
    }

    /// Rows `range` of `table`.
    public static func rows(_ table: Table, _ range: Range<Int>) throws -> Table {
        try Table(source: table.source, columns: table.columns.map { Column(name: $0.name, text: Array($0.text[range])) }, rowCount: range.count)
    }

    /// `table` as CSV with a header line.
    public static func csv(_ table: Table) -> String {
        var out = table.columns.map { CSVText.field($0.name) }.joined(separator: ",") + "\n"
        for r in 0..<table.rowCount {
            out += table.columns.map { CSVText.field($0.text[r]) }.joined(separator: ",") + "\n"
        }
        return out
    }
}
