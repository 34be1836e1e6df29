import BerthTensor

/// Rows to evaluate a model on: the features the model reads and the true label (or target
/// value) of every row.
public struct Dataset: Sendable {
    /// The model's inputs, before they are matched to the model.
    public enum Features: Sendable {
        /// Named columns (a CSV file, or a 2-D `.npy` array whose columns are named `0`, `1` ...).
        case table(Table)
        /// An array fed as it is to a model's only input; its first axis is the row.
        case array(Tensor)
    }

    /// Where the data came from, for messages.
    public let source: String
    /// The features.
    public let features: Features
    /// The true labels (classification) or target values (regression), one per row.
    public let labels: Column
    /// The number of rows.
    public var rowCount: Int { labels.count }

    /// Features alone, to run a model on rows whose labels are unknown (every label empty).
    public init(features table: Table) {
        labels = Column(name: "", text: Array(repeating: "", count: table.rowCount))
        features = .table(table)
        source = table.source
    }

    /// Splits a table into features (every other column, in file order) and the label column.
    public init(table: Table, labelColumn: String) throws {
        labels = try table.column(labelColumn, purpose: "the label column given with --label")
        features = .table(table.removing(labelColumn))
        source = table.source
    }

    /// Features from an array and labels given separately (e.g. a second `.npy` file).
    public init(source: String, array: Tensor, labels: Column) throws {
        guard let rows = array.shape.first, array.rank >= 1 else {
            throw EvalError.badArray(path: source, reason: "a data array needs at least one axis (rows), got a scalar")
        }
        guard rows == labels.count else { throw EvalError.labelCount(expected: rows, got: labels.count) }
        guard rows > 0 else { throw EvalError.noRows(path: source) }
        self.source = source
        self.features = array.rank == 2 ? .table(try Dataset.table(source: source, array: array)) : .array(array)
        self.labels = labels
    }

    /// Features and labels from one 2-D array: column `labelIndex` holds the labels.
    public init(source: String, array: Tensor, labelIndex: Int) throws {
        guard array.rank == 2 else {
            throw EvalError.badArray(path: source, reason: "a label column index needs a 2-D array, got shape \(array.shape)")
        }
        let table = try Dataset.table(source: source, array: array)
        guard labelIndex >= 0 && labelIndex < table.columns.count else {
            throw EvalError.missingColumn(name: String(labelIndex), purpose: "the label column given with --label",
                                          available: table.names)
        }
        try self.init(table: table, labelColumn: String(labelIndex))
    }

    /// The 2-D array as numeric columns named by index.
    static func table(source: String, array: Tensor) throws -> Table {
        let rows = array.shape[0], cols = array.shape[1]
        guard rows > 0 else { throw EvalError.noRows(path: source) }
        var columns: [Column] = []
        if case let .string(values) = array.storage {
            for c in 0..<cols { columns.append(Column(name: String(c), text: (0..<rows).map { values[$0 * cols + c] })) }
        } else if array.dtype != .bool {
            for c in 0..<cols {
                columns.append(Column(name: String(c), numbers: (0..<rows).map { array.storage.double(at: $0 * cols + c) }))
            }
        } else {
            throw EvalError.badArray(path: source, reason: "bool data arrays are not supported")
        }
        return try Table(source: source, columns: columns, rowCount: rows)
    }
}
