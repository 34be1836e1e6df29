/// Named columns of equal length, as read from a CSV file or built from a 2-D array.
public struct Table: Sendable {
    /// Where the data came from, for messages.
    public let source: String
    /// The columns, in file order.
    public let columns: [Column]
    /// The number of data rows (the header is not a row).
    public let rowCount: Int
    /// For CSV files: the 1-based file line each data row starts on.
    public let lines: [Int]?

    /// Checks that every column has `rowCount` values and that names are unique.
    public init(source: String, columns: [Column], rowCount: Int, lines: [Int]? = nil) throws {
        var seen = Set<String>()
        for c in columns {
            guard seen.insert(c.name).inserted else { throw EvalError.duplicateColumn(name: c.name) }
            guard c.count == rowCount else { throw EvalError.labelCount(expected: rowCount, got: c.count) }
        }
        self.source = source
        self.columns = columns
        self.rowCount = rowCount
        self.lines = lines
    }

    /// The column names in file order.
    public var names: [String] { columns.map(\.name) }

    /// The column called `name`, or an error listing the columns there are.
    public func column(_ name: String, purpose: String) throws -> Column {
        guard let c = columns.first(where: { $0.name == name }) else {
            throw EvalError.missingColumn(name: name, purpose: purpose, available: names)
        }
        return c
    }

    /// The table without the column called `name`.
    public func removing(_ name: String) -> Table {
        // Removing a column keeps names unique and lengths equal, so this cannot fail.
        try! Table(source: source, columns: columns.filter { $0.name != name }, rowCount: rowCount, lines: lines)
    }
}
