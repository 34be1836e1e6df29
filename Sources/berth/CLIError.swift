import ArgumentParser
import Foundation

/// Errors the CLI reports itself (bad flags, unreadable files).
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Runs a command body whose failures come from its input (a bad model, feed or flag value):
/// prints `Error: ...` and exits 2, as `berth eval` and the registry commands do.
func exitTwoOnBadInput(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
        throw ExitCode(2)
    }
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
