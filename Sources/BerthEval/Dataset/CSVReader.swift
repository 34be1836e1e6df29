import Foundation

/// Reads CSV files (RFC 4180) into a ``Table``: the first record is the header; fields may be
/// quoted with `"` (a doubled `""` is a literal quote; quoted fields may hold commas and line
/// breaks); lines end with LF, CRLF or CR; blank lines and a UTF-8 byte-order mark are skipped.
/// A column is numeric when every value parses as a number, otherwise a string column.
public enum CSVReader {
    /// Reads and parses a CSV file.
    public static func read(contentsOf url: URL) throws -> Table {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EvalError.invalidArgument("cannot read \(url.path): \(error.localizedDescription)")
        }
        return try parse([UInt8](data), source: url.path)
    }

    /// Parses CSV bytes; `source` names the data in error messages.
    public static func parse(_ bytes: [UInt8], source: String) throws -> Table {
        var records = try Records(bytes)
        guard let header = try records.next() else { throw EvalError.emptyFile(path: source) }
        let names = header.fields
        var columns = Array(repeating: [String](), count: names.count)
        var lines: [Int] = []
        while let record = try records.next() {
            guard record.fields.count == names.count else {
                throw EvalError.raggedRow(row: lines.count + 1, line: record.line, fields: record.fields.count,
                                          expected: names.count)
            }
            for (i, f) in record.fields.enumerated() { columns[i].append(f) }
            lines.append(record.line)
        }
        guard !lines.isEmpty else { throw EvalError.noRows(path: source) }
        return try Table(source: source, columns: zip(names, columns).map { Column(name: $0, text: $1, lines: lines) },
                         rowCount: lines.count, lines: lines)
    }

    /// One record: its fields and the 1-based line it starts on.
    struct Record {
        var fields: [String]
        var line: Int
    }

    /// Splits CSV bytes into records, one at a time.
    struct Records {
        private let bytes: [UInt8]
        private var i = 0
        private var line = 1

        init(_ bytes: [UInt8]) throws {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        }

        /// The next record, or nil at the end; blank lines are skipped.
        mutating func next() throws -> Record? {
            let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
            while i < bytes.count {
                let start = line
                var fields: [String] = []
                var field: [UInt8] = []
                var quoted = false
                var endOfRecord = false
                // One field per iteration of the inner loop.
                while !endOfRecord {
                    field.removeAll(keepingCapacity: true)
                    quoted = i < bytes.count && bytes[i] == quote
                    if quoted {
                        let fieldLine = line
                        i += 1
                        var closed = false
                        while i < bytes.count {
                            let b = bytes[i]
                            if b == quote {
                                if i + 1 < bytes.count && bytes[i + 1] == quote { field.append(quote); i += 2; continue }
                                i += 1
                                closed = true
                                break
                            }
                            if b == lf || (b == cr && (i + 1 >= bytes.count || bytes[i + 1] != lf)) { line += 1 }
                            field.append(b)
                            i += 1
                        }
                        guard closed else {
                            throw EvalError.syntax(line: fieldLine, reason: "a quoted field is never closed (missing \")")
                        }
                        if i < bytes.count && bytes[i] != comma && bytes[i] != lf && bytes[i] != cr {
                            throw EvalError.syntax(line: line, reason: "unexpected '\(Character(Unicode.Scalar(bytes[i])))' after a closing quote (a quote inside a quoted field must be doubled)")
                        }
                    } else {
                        while i < bytes.count && bytes[i] != comma && bytes[i] != lf && bytes[i] != cr {
                            field.append(bytes[i])
                            i += 1
                        }
                    }
                    fields.append(String(decoding: field, as: UTF8.self))
                    if i >= bytes.count {
                        endOfRecord = true
                    } else if bytes[i] == comma {
                        i += 1
                    } else {
                        if bytes[i] == cr && i + 1 < bytes.count && bytes[i + 1] == lf { i += 1 }
                        i += 1
                        line += 1
                        endOfRecord = true
                    }
                }
                if fields.count == 1 && fields[0].isEmpty && !quoted { continue }   // a blank line
                return Record(fields: fields, line: start)
            }
            return nil
        }
    }
}
