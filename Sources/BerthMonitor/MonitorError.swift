/// Errors from comparing data sets or estimating a model's performance. Every case names the file
/// or column at fault, so the CLI can print it as it is (and exit 2).
public enum MonitorError: Error, CustomStringConvertible, Equatable {
    /// The two files do not have the same columns.
    case columnMismatch(reference: String, current: String, onlyInReference: [String], onlyInCurrent: [String])
    /// A column named on the command line is not in the data.
    case missingColumn(name: String, source: String, available: [String])
    /// A column has no usable value (every value is empty or NaN).
    case noValues(column: String, source: String)
    /// A column is numbers in one file and text in the other.
    case kindMismatch(column: String, numericIn: String, textIn: String)
    /// A drift method cannot be applied to a column (e.g. KS on text).
    case methodNotApplicable(method: String, column: String, reason: String)
    /// A statistic is undefined for the data (e.g. fewer than two categories for a Z-test).
    case undefined(String)
    /// Any other bad argument.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .columnMismatch(reference, current, onlyRef, onlyCur):
            var parts: [String] = []
            if !onlyRef.isEmpty { parts.append("only in \(reference): " + onlyRef.map { "'\($0)'" }.joined(separator: ", ")) }
            if !onlyCur.isEmpty { parts.append("only in \(current): " + onlyCur.map { "'\($0)'" }.joined(separator: ", ")) }
            return "the reference and current files have different columns (" + parts.joined(separator: "; ") + ")"
        case let .missingColumn(name, source, available):
            return "\(source) has no column '\(name)'; its columns are " + available.map { "'\($0)'" }.joined(separator: ", ")
        case let .noValues(column, source):
            return "\(source), column '\(column)': no values (every value is empty or NaN)"
        case let .kindMismatch(column, numericIn, textIn):
            return "column '\(column)' holds numbers in \(numericIn) but text in \(textIn)"
        case let .methodNotApplicable(method, column, reason):
            return "method '\(method)' cannot test column '\(column)': \(reason)"
        case let .undefined(why): return why
        case let .invalidArgument(why): return why
        }
    }
}
