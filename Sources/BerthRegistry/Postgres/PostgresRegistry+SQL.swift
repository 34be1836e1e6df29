import Foundation
import PostgresNIO

/// ``RegistryCore``'s statements on a PostgreSQL session: `?` placeholders become `$1`, `$2` …
struct PostgresStatements: RegistrySQL {
    let session: PostgresSession

    /// `sql` with its `?` placeholders (outside quoted text) numbered as PostgreSQL wants them.
    static func numbered(_ sql: String) -> String {
        var out = "", n = 0, quoted = false
        out.reserveCapacity(sql.utf8.count + 16)
        for c in sql {
            if c == "'" { quoted.toggle() }
            if c == "?" && !quoted {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }

    static func arguments(_ values: [any SQLArgument]) -> [any PostgresArgument] {
        values.map { v -> any PostgresArgument in
            switch v.sqlValue {
            case .null: return String?.none
            case let .int(i): return i
            case let .double(d): return d
            case let .text(s): return s
            }
        }
    }

    func rows(_ sql: String, _ arguments: [any SQLArgument]) throws -> [SQLRow] {
        try session.query(Self.numbered(sql), Self.arguments(arguments)).map { row in
            var values: [String: SQLValue] = [:]
            for cell in row { values[cell.columnName] = try Self.value(cell) }
            return SQLRow(values: values)
        }
    }

    func execute(_ sql: String, _ arguments: [any SQLArgument]) throws -> Int {
        try session.execute(Self.numbered(sql), Self.arguments(arguments))
    }

    func insertReturningID(_ sql: String, _ arguments: [any SQLArgument]) throws -> Int64 {
        guard let id = try session.scalar(Int64.self, Self.numbered(sql) + " RETURNING id", Self.arguments(arguments)) else {
            throw RegistryError.storage("an INSERT returned no id")
        }
        return id
    }

    /// A cell by its PostgreSQL type: the registry's columns are integers, floats and text.
    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .int(try cell.value(Int64.self))
        case .float4, .float8: return .double(try cell.value(Double.self))
        case .bool: return .int(try cell.value(Bool.self) ? 1 : 0)
        default: return .text(try cell.value(String.self))
        }
    }
}

/// PostgreSQL's transactions: writes take the cluster-wide write lock (``PostgresPool/transaction(write:_:)``).
struct PostgresTransactions: RegistryTransactions {
    let pool: PostgresPool

    func read<T>(_ body: (any RegistrySQL) throws -> T) throws -> T {
        try pool.transaction(write: false) { try body(PostgresStatements(session: $0)) }
    }

    func write<T>(_ body: (any RegistrySQL) throws -> T) throws -> T {
        try pool.transaction(write: true) { try body(PostgresStatements(session: $0)) }
    }
}
