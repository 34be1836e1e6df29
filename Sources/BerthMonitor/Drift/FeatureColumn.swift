import Foundation
import BerthEval

/// One column of the reference and current files, missing values dropped, ready to be tested.
public struct FeatureColumn: Sendable {
    /// The column name.
    public let name: String
    /// The reference file's values.
    public let reference: FeatureSample
    /// The current file's values.
    public let current: FeatureSample
    /// True when every current value is an integer literal and none is missing (pandas reads
    /// the column as int64; Evidently then treats ≤ 10 distinct values as categories).
    public let currentIsInteger: Bool

    /// Values pandas reads as missing (`read_csv`'s default `na_values`); infinities are dropped
    /// too, as Evidently replaces them with NaN before testing.
    static let missing: Set<String> = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                                       "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]

    /// Pairs a column of the two files. The column is numeric when every present value in both
    /// files is a number; a column with no present value in either file is an error.
    public init(reference: Column, current: Column, referenceSource: String, currentSource: String) throws {
        name = reference.name
        let r = FeatureColumn.present(reference.text), c = FeatureColumn.present(current.text)
        currentIsInteger = c.count == current.count && c.allSatisfy(FeatureColumn.isIntegerLiteral)
        guard !r.isEmpty else { throw MonitorError.noValues(column: name, source: referenceSource) }
        guard !c.isEmpty else { throw MonitorError.noValues(column: name, source: currentSource) }
        let rn = r.map(Column.parseNumber), cn = c.map(Column.parseNumber)
        let rNumeric = rn.allSatisfy { $0 != nil }, cNumeric = cn.allSatisfy { $0 != nil }
        switch (rNumeric, cNumeric) {
        case (true, true):
            let rv = rn.compactMap { $0 }.filter(\.isFinite), cv = cn.compactMap { $0 }.filter(\.isFinite)
            guard !rv.isEmpty else { throw MonitorError.noValues(column: name, source: referenceSource) }
            guard !cv.isEmpty else { throw MonitorError.noValues(column: name, source: currentSource) }
            self.reference = .numbers(rv)
            self.current = .numbers(cv)
        case (false, false):
            self.reference = .strings(r)
            self.current = .strings(c)
        case (true, false):
            throw MonitorError.kindMismatch(column: name, numericIn: referenceSource, textIn: currentSource)
        case (false, true):
            throw MonitorError.kindMismatch(column: name, numericIn: currentSource, textIn: referenceSource)
        }
    }

    /// `-12`, `+3`, `7`: what pandas parses as int64.
    static func isIntegerLiteral(_ s: String) -> Bool {
        var t = Substring(s.trimmingCharacters(in: .whitespaces))
        if t.first == "+" || t.first == "-" { t = t.dropFirst() }
        return !t.isEmpty && t.count <= 18 && t.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The values that are not missing.
    static func present(_ text: [String]) -> [String] {
        text.filter { !missing.contains($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// True when both files hold numbers.
    public var isNumeric: Bool {
        if case .numbers = reference { return true }
        return false
    }

    /// Distinct values over both files together (pandas' `concat(...).nunique()`).
    public var distinctCount: Int {
        switch (reference, current) {
        case let (.numbers(a), .numbers(b)): return Set(a).union(b).count
        case let (.strings(a), .strings(b)): return Set(a).union(b).count
        default: return reference.distinctCount + current.distinctCount
        }
    }
}
