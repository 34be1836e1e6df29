import BerthEval
import Foundation

/// The text form of a `berth eval` report.
enum EvalTable {
    static func render(_ r: Report) -> String {
        var lines: [String] = []
        lines.append("model  \(r.model)")
        lines.append("data   \(r.data)  (\(r.rows) rows, label column '\(r.labelColumn)')")
        let outs = [r.outputs.label.map { "label \($0)" }, r.outputs.probabilities.map { "probabilities \($0)" },
                    r.outputs.value.map { "value \($0)" }].compactMap { $0 }.joined(separator: ", ")
        lines.append("task   \(r.task.rawValue)  (outputs: \(outs))")
        lines.append("")
        let names = r.task.metricNames
        let width = names.map(\.count).max() ?? 0
        for name in names {
            lines.append(name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + number(r.metric(name)))
        }
        if let rows = r.perClass, !rows.isEmpty {
            lines.append("")
            let labelWidth = max(5, rows.map { $0.label.description.count }.max() ?? 0)
            lines.append(pad("class", labelWidth) + ["precision", "recall", "f1", "support", "roc_auc"].map { right($0, 10) }.joined())
            for row in rows {
                lines.append(pad(row.label.description, labelWidth) + right(number(row.precision), 10)
                    + right(number(row.recall), 10) + right(number(row.f1), 10) + right(String(row.support), 10)
                    + right(number(row.rocAUC), 10))
            }
        }
        if let cm = r.confusionMatrix, cm.labels.count <= 20 {
            lines.append("")
            lines.append("confusion matrix (rows: true, columns: predicted)")
            let cellWidth = max(6, (cm.labels.map { $0.description.count } + cm.counts.flatMap { $0 }.map { String($0).count }).max()! + 1)
            let labelWidth = max(5, cm.labels.map { $0.description.count }.max() ?? 0)
            lines.append(pad("", labelWidth) + cm.labels.map { right($0.description, cellWidth) }.joined())
            for (label, row) in zip(cm.labels, cm.counts) {
                lines.append(pad(label.description, labelWidth) + row.map { right(String($0), cellWidth) }.joined())
            }
        }
        for note in r.notes { lines.append("note: \(note)") }
        if let gates = r.gates {
            lines.append("")
            for g in gates {
                lines.append("gate \(g.gate): \(g.passed ? "passed" : "MISSED") (\(number(g.value)))")
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func number(_ v: Double?) -> String {
        guard let v else { return "n/a" }
        return String(format: "%.6f", v)
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.padding(toLength: max(width, s.count) + 2, withPad: " ", startingAt: 0)
    }

    private static func right(_ s: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - s.count)) + s
    }
}
