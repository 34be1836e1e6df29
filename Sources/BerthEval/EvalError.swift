import BerthTensor

/// Errors from reading an evaluation data set or evaluating a model on it. Every case names
/// where the problem is: the 1-based data row (the header is not a row), the file line (quoted
/// fields may span lines), the column, and what was expected.
public enum EvalError: Error, CustomStringConvertible, Equatable {
    /// The data file has no bytes (or only blank lines): a CSV needs at least a header.
    case emptyFile(path: String)
    /// The CSV has a header but no data rows.
    case noRows(path: String)
    /// A CSV row has a different number of fields than the header.
    case raggedRow(row: Int, line: Int, fields: Int, expected: Int)
    /// The CSV text is malformed (an unterminated quote, a stray quote).
    case syntax(line: Int, reason: String)
    /// Two header fields have the same name.
    case duplicateColumn(name: String)
    /// A column the evaluation needs is not in the data.
    case missingColumn(name: String, purpose: String, available: [String])
    /// A value that must be a number is not one.
    case nonNumeric(row: Int, line: Int?, column: String, value: String)
    /// A value that must be an integer (an integer model input) is not one.
    case nonInteger(row: Int, line: Int?, column: String, value: String)
    /// The data has a different number of feature columns than the model input takes.
    case featureCount(input: String, expected: Int, got: Int, columns: [String])
    /// A model input cannot be fed from the data (its dtype or rank is not supported).
    case unsupportedInput(name: String, reason: String)
    /// A `.npy` data set has the wrong shape or dtype.
    case badArray(path: String, reason: String)
    /// The labels do not match the rows of the data.
    case labelCount(expected: Int, got: Int)
    /// The true labels and the model's labels are of different kinds (numbers vs strings).
    case labelKind(row: Int, line: Int?, column: String, value: String, modelLabels: String)
    /// The model's outputs do not fit the task (no label or probability output, no value output).
    case outputs(String)
    /// The model failed on a batch of rows.
    case run(firstRow: Int, lastRow: Int, message: String)
    /// Any other bad argument.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .emptyFile(path): return "\(path) is empty: a CSV needs a header row naming the columns"
        case let .noRows(path): return "\(path) has a header but no data rows"
        case let .raggedRow(row, line, fields, expected):
            return "row \(row) (line \(line)) has \(fields) field\(fields == 1 ? "" : "s"), but the header has \(expected) columns"
        case let .syntax(line, reason): return "line \(line): \(reason)"
        case let .duplicateColumn(name): return "the header names column '\(name)' twice"
        case let .missingColumn(name, purpose, available):
            return "no column '\(name)' (\(purpose)); the columns are \(available.map { "'\($0)'" }.joined(separator: ", "))"
        case let .nonNumeric(row, line, column, value):
            return "\(EvalError.place(row, line)), column '\(column)': '\(value)' is not a number"
        case let .nonInteger(row, line, column, value):
            return "\(EvalError.place(row, line)), column '\(column)': '\(value)' is not an integer"
        case let .featureCount(input, expected, got, columns):
            return "model input '\(input)' takes \(expected) features, but the data has \(got) feature columns ("
                + columns.map { "'\($0)'" }.joined(separator: ", ") + ")"
        case let .unsupportedInput(name, reason): return "model input '\(name)': \(reason)"
        case let .badArray(path, reason): return "\(path): \(reason)"
        case let .labelCount(expected, got): return "the data has \(expected) rows but \(got) labels"
        case let .labelKind(row, line, column, value, modelLabels):
            return "\(EvalError.place(row, line)), column '\(column)': label '\(value)' is not a number, but the model's labels are \(modelLabels)"
        case let .outputs(why): return why
        case let .run(first, last, message): return "rows \(first)-\(last): \(message)"
        case let .invalidArgument(why): return why
        }
    }

    /// `row 3 (line 4)`, or `row 3` when the line is unknown.
    static func place(_ row: Int, _ line: Int?) -> String {
        line.map { "row \(row) (line \($0))" } ?? "row \(row)"
    }
}
