import BerthEval

/// Logged traffic as a table with a reference sample's feature columns, so the drift tests and
/// the performance estimator compare like with like (the same code as offline).
///
/// Inputs map to the reference's features by name (a model with one input per column), or, for
/// a model whose one input is `[N, k]`, position by position onto the reference's k features
/// (as `berth eval` feeds a CSV to such a model).
public enum LiveTable {
    /// The table of `records` (any order; rows kept in the order given) under `reference`'s feature names.
    public static func build(_ records: [LoggedPrediction], reference: ReferenceInfo) throws -> Table {
        let features = reference.features
        var cells = [[String]](repeating: [], count: features.count)
        var rows = 0
        for r in records {
            let logged = LoggedColumns(json: r.inputs, rows: r.rows)
            let index: [Int]
            if let byName = Optional(features.compactMap { f in logged.names.firstIndex(of: f) }), byName.count == features.count {
                index = byName
            } else if logged.tensors.count == 1, logged.names.count == features.count {
                index = Array(0..<features.count)
            } else {
                throw MonitorError.invalidArgument("the logged inputs of version \(r.version) (" + logged.names.prefix(8).joined(separator: ", ")
                    + (logged.names.count > 8 ? ", …" : "") + ") do not map onto the reference's features ("
                    + features.prefix(8).joined(separator: ", ") + (features.count > 8 ? ", …" : "")
                    + "); an input hashed or dropped by --prediction-log-mask cannot be compared")
            }
            for row in logged.rows {
                for (c, i) in index.enumerated() { cells[c].append(row[i]) }
                rows += 1
            }
        }
        return try Table(source: "the logged traffic", columns: zip(features, cells).map { Column(name: $0, text: $1) }, rowCount: rows)
    }
}
