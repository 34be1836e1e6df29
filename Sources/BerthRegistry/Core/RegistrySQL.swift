import Foundation

/// A statement parameter or a column value, as both databases hold them.
enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
}

/// A Swift value that can be a statement parameter (nil is NULL).
protocol SQLArgument {
    var sqlValue: SQLValue { get }
}

extension String: SQLArgument { var sqlValue: SQLValue { .text(self) } }
extension Int: SQLArgument { var sqlValue: SQLValue { .int(Int64(self)) } }
extension Int64: SQLArgument { var sqlValue: SQLValue { .int(self) } }
extension Double: SQLArgument { var sqlValue: SQLValue { .double(self) } }
extension Optional: SQLArgument where Wrapped: SQLArgument {
    var sqlValue: SQLValue { map(\.sqlValue) ?? .null }
}

/// One result row by column name, read with the type the registry expects; a mismatch is a
/// ``RegistryError/storage(_:)`` naming the column.
struct SQLRow {
    var values: [String: SQLValue]

    private func value(_ column: String) throws -> SQLValue {
        guard let v = values[column] else { throw RegistryError.storage("no column '\(column)' in the result") }
        return v
    }

    private func mismatch(_ column: String, _ type: String) -> RegistryError {
        .storage("column '\(column)' does not hold \(type) (\(values[column].map { "\($0)" } ?? "missing"))")
    }

    func int64(_ column: String) throws -> Int64 {
        guard let v = try optionalInt64(column) else { throw mismatch(column, "an integer") }
        return v
    }

    func optionalInt64(_ column: String) throws -> Int64? {
        switch try value(column) {
        case .null: return nil
        case let .int(i): return i
        // SQLite's REAL affinity or PostgreSQL's numeric aggregates: exact integers only.
        case let .double(d) where d.rounded() == d && abs(d) < 9e15: return Int64(d)
        default: throw mismatch(column, "an integer")
        }
    }

    func int(_ column: String) throws -> Int { Int(try int64(column)) }
    func optionalInt(_ column: String) throws -> Int? { try optionalInt64(column).map { Int($0) } }

    func double(_ column: String) throws -> Double {
        switch try value(column) {
        case let .double(d): return d
        case let .int(i): return Double(i)
        default: throw mismatch(column, "a number")
        }
    }

    func optionalDouble(_ column: String) throws -> Double? {
        if case .null = try value(column) { return nil }
        return try double(column)
    }

    func string(_ column: String) throws -> String {
        guard let s = try optionalString(column) else { throw mismatch(column, "text") }
        return s
    }

    func optionalString(_ column: String) throws -> String? {
        switch try value(column) {
        case .null: return nil
        case let .text(s): return s
        default: throw mismatch(column, "text")
        }
    }
}

/// The statements of one transaction, in SQLite or PostgreSQL: what ``RegistryCore`` needs of a
/// database. Statements are written once with `?` placeholders in the SQL both accept.
protocol RegistrySQL {
    /// The rows of a query.
    func rows(_ sql: String, _ arguments: [any SQLArgument]) throws -> [SQLRow]
    /// Runs a statement; returns the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLArgument]) throws -> Int
    /// Runs an INSERT into a table with an `id` key; returns the new row's id.
    func insertReturningID(_ sql: String, _ arguments: [any SQLArgument]) throws -> Int64
}

extension RegistrySQL {
    func row(_ sql: String, _ arguments: [any SQLArgument] = []) throws -> SQLRow? { try rows(sql, arguments).first }

    /// The first column of the first row as an integer (nil without a row or for NULL).
    func int(_ sql: String, _ arguments: [any SQLArgument] = []) throws -> Int? {
        guard let r = try rows(sql, arguments).first, let column = r.values.keys.first else { return nil }
        return try r.optionalInt(column)
    }
}

/// How a backend runs transactions: reads see one snapshot; writes run one at a time (SQLite's
/// single writer, PostgreSQL's cluster-wide advisory lock) and commit or roll back as a whole.
protocol RegistryTransactions: Sendable {
    func read<T>(_ body: (any RegistrySQL) throws -> T) throws -> T
    func write<T>(_ body: (any RegistrySQL) throws -> T) throws -> T
}
