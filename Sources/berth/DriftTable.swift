import BerthMonitor
import Foundation

/// The readable form of a drift report: one row per column, then the verdict.
enum DriftTable {
    static func render(_ report: DriftReport) -> String {
        var rows: [[String]] = [["column", "type", "method", "statistic", "p-value", "threshold", "drifted"]]
        func row(_ name: String, _ f: FeatureDrift) -> [String] {
            [name, f.type.rawValue, f.method.rawValue, format(f.statistic), f.pValue.map(format) ?? "-", format(f.threshold),
             f.drifted ? "yes" : "no"]
        }
        for name in report.features.keys.sorted() { rows.append(row(name, report.features[name]!)) }
        if let p = report.prediction { rows.append(row("(prediction)", p)) }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        var lines = rows.map { r in
            zip(r, widths).enumerated().map { i, cell in
                i == 0 ? cell.0.padding(toLength: cell.1, withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: cell.1 - cell.0.count) + cell.0
            }.joined(separator: "  ")
        }
        lines.insert(String(repeating: "-", count: lines[0].count), at: 1)
        lines.append("")
        lines.append("\(report.driftedFeatures) of \(report.features.count) columns drifted (share \(format(report.driftShare))): "
            + (report.datasetDrift ? "dataset drift" : "no dataset drift"))
        return lines.joined(separator: "\n")
    }

    private static func format(_ x: Double) -> String {
        if !x.isFinite { return String(x) }
        if x != 0 && abs(x) < 1e-4 { return String(format: "%.3e", x) }
        return String(format: "%.4f", x)
    }
}
