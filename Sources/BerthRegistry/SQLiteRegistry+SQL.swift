import Foundation
import GRDB

/// ``RegistryCore``'s statements on a GRDB connection.
struct SQLiteStatements: RegistrySQL {
    let db: Database

    static func arguments(_ values: [any SQLArgument]) -> StatementArguments {
        StatementArguments(values.map { v -> (any DatabaseValueConvertible)? in
            switch v.sqlValue {
            case .null: return DatabaseValue.null
            case let .int(i): return i.databaseValue
            case let .double(d): return d.databaseValue
            case let .text(s): return s.databaseValue
            }
        })
    }

    func rows(_ sql: String, _ arguments: [any SQLArgument]) throws -> [SQLRow] {
        try Row.fetchAll(db, sql: sql, arguments: Self.arguments(arguments)).map { row in
            var values: [String: SQLValue] = [:]
            for (column, value) in row {
                switch value.storage {
                case .null: values[column] = .null
                case let .int64(i): values[column] = .int(i)
                case let .double(d): values[column] = .double(d)
                case let .string(s): values[column] = .text(s)
                case let .blob(b): values[column] = .text(String(decoding: b, as: UTF8.self))
                }
            }
            return SQLRow(values: values)
        }
    }

    func execute(_ sql: String, _ arguments: [any SQLArgument]) throws -> Int {
        try db.execute(sql: sql, arguments: Self.arguments(arguments))
        return db.changesCount
    }

    func insertReturningID(_ sql: String, _ arguments: [any SQLArgument]) throws -> Int64 {
        try db.execute(sql: sql, arguments: Self.arguments(arguments))
        return db.lastInsertedRowID
    }
}

/// SQLite's transactions: GRDB's pool (one writer, readers on snapshots).
struct SQLiteTransactions: RegistryTransactions, @unchecked Sendable {
    // @unchecked: DatabasePool is thread-safe.
    let pool: DatabasePool

    func read<T>(_ body: (any RegistrySQL) throws -> T) throws -> T {
        do { return try pool.read { try body(SQLiteStatements(db: $0)) } } catch { throw SQLiteRegistry.wrap(error) }
    }

    func write<T>(_ body: (any RegistrySQL) throws -> T) throws -> T {
        do { return try pool.write { try body(SQLiteStatements(db: $0)) } } catch { throw SQLiteRegistry.wrap(error) }
    }
}
