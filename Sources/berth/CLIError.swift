/// Errors the CLI reports itself (bad flags, unreadable files).
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Parses repeated `NAME=VALUE` options.
func parsePairs(_ items: [String], what: String) throws -> [(String, String)] {
    try items.map { item in
        guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
            throw CLIError("\(what) '\(item)' must look like NAME=VALUE")
        }
        return (String(item[..<eq]), String(item[item.index(after: eq)...]))
    }
}
