import BerthTensor

extension Evaluator {
    /// Classification metrics from the label and probability outputs.
    func classify(_ dataset: Dataset, outputs: [String: Tensor], options: Options, model: String, data: String) throws
        -> (Report, Predictions)
    {
        let labelName = try pickOutput(options.labelOutput, in: outputs, role: "label output", hint: "label",
                                       fits: Evaluator.isLabelOutput)
        let probName = try pickOutput(options.probabilityOutput, in: outputs, role: "probability output", hint: "prob",
                                      fits: Evaluator.isProbabilityOutput)
        guard labelName != nil || probName != nil else {
            throw EvalError.outputs("the model has neither a label output (int64 or string [N]) nor a probability "
                + "output (float [N, C]); its outputs are \(describe(outputs))")
        }
        var notes: [String] = []
        let labelOutput = labelName.map { outputs[$0]!.classLabels }

        // Probabilities, their classes in column order, and the order's source.
        var probabilities: [Double]?
        var classes: [ClassLabel] = []
        var source: ClassOrder.Source?
        if let probName {
            let t = outputs[probName]!
            let columns = t.shape[1]
            (classes, source) = ClassOrder.classes(in: graph, probabilityOutput: probName, columns: columns)
            probabilities = t.doubles
            if source == .columnIndex, let labelOutput, let inferred = Evaluator.inferClasses(probabilities!, columns: columns, labels: labelOutput),
               inferred != classes {
                classes = inferred
                notes.append("the model file does not name the probability columns' classes; they were inferred from "
                    + "the label output (the most probable column of each row)")
            }
            if Set(classes).count != classes.count {
                notes.append("the probability columns' classes are not distinct (\(classes)); probability metrics are left out")
                probabilities = nil
            }
        }
        let predicted = labelOutput ?? Evaluator.argmaxLabels(probabilities ?? [], classes: classes)
        let modelLabels = labelOutput ?? classes
        let truth = try Evaluator.truth(dataset.labels, asStrings: modelLabels.first?.isString ?? false)

        if probabilities != nil, !classes.isEmpty, (labelOutput?.first?.isString ?? classes[0].isString) != classes[0].isString {
            notes.append("the label output and the probability columns' classes differ in kind; probability metrics are left out")
            probabilities = nil
        }
        if let probabilities, let labelOutput {
            let argmax = Evaluator.argmaxLabels(probabilities, classes: classes)
            let disagree = zip(argmax, labelOutput).filter { $0 != $1 }.count
            if disagree > 0 {
                notes.append("in \(disagree) of \(truth.count) rows the label output is not the most probable class")
            }
        }

        // Probability columns in sorted class order (scikit-learn's).
        let sorted = classes.sorted()
        var sortedProbabilities: [Double]?
        if let probabilities {
            let c = classes.count
            let column = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
            let perm = sorted.map { column[$0]! }
            var out = [Double](repeating: 0, count: probabilities.count)
            for r in 0..<truth.count { for k in 0..<c { out[r * c + k] = probabilities[r * c + perm[k]] } }
            sortedProbabilities = out
        }

        let m = ClassificationMetrics(truth: truth, predicted: predicted)
        var metrics: [String: Double?] = [
            "accuracy": m.accuracy,
            "precision_macro": m.macro.precision, "recall_macro": m.macro.recall, "f1_macro": m.macro.f1,
            "precision_weighted": m.weighted.precision, "recall_weighted": m.weighted.recall, "f1_weighted": m.weighted.f1,
            "roc_auc": nil, "log_loss": nil,
        ]
        var classAUC: [ClassLabel: Double] = [:]
        if let p = sortedProbabilities {
            let known = Set(sorted)
            let unknown = Set(truth).subtracting(known).sorted()
            if !unknown.isEmpty {
                notes.append("true labels \(unknown.map(\.description)) are not among the model's classes "
                    + "\(sorted.map(\.description)): ROC-AUC and log loss are undefined")
            } else {
                let ovr = ROCAUC.oneVsRest(truth: truth, probabilities: p, classes: sorted)
                for (label, auc) in zip(sorted, ovr.perClass) { classAUC[label] = auc }
                // Assigning nil through the subscript would remove the key; updateValue keeps it as null.
                metrics.updateValue(sorted.count == 2 ? ovr.perClass[1] : ovr.macro, forKey: "roc_auc")
                if metrics["roc_auc"]! == nil {
                    let absent = zip(sorted, ovr.perClass).filter { $0.1 == nil }.map(\.0.description)
                    notes.append("ROC-AUC is undefined: class(es) \(absent) are absent from the data or make up every row")
                }
                metrics.updateValue(LogLoss.mean(truth: truth, probabilities: p, classes: sorted), forKey: "log_loss")
            }
        } else {
            notes.append("the model has no probability output: ROC-AUC and log loss are undefined")
        }
        let rows = m.perClass.map {
            Report.ClassRow(label: $0.label, precision: $0.precision, recall: $0.recall, f1: $0.f1, support: $0.support,
                            rocAUC: classAUC[$0.label])
        }
        let report = Report(
            model: model, data: data, task: .classification, rows: truth.count, labelColumn: dataset.labels.name,
            outputs: .init(label: labelName, probabilities: sortedProbabilities == nil ? nil : probName, value: nil),
            classes: sortedProbabilities == nil ? nil : sorted, classOrder: sortedProbabilities == nil ? nil : source,
            metrics: Evaluator.finite(metrics, notes: &notes), perClass: rows, confusionMatrix: m.confusion,
            gates: nil, passed: nil, notes: notes)
        let predictions = ClassPredictions(truth: truth, predicted: predicted, classes: sortedProbabilities == nil ? [] : sorted,
                                           probabilities: sortedProbabilities)
        return (report, .classification(predictions))
    }

    /// The true labels, as strings when the model's labels are strings; otherwise the column must be numeric.
    static func truth(_ column: Column, asStrings: Bool) throws -> [ClassLabel] {
        if asStrings { return column.text.map(ClassLabel.string) }
        if let numbers = column.numbers {
            if let i = numbers.firstIndex(where: { $0.isNaN }) {
                throw EvalError.nonNumeric(row: i + 1, line: column.line(of: i), column: column.name, value: column.text[i])
            }
            return numbers.map(ClassLabel.number)
        }
        let i = column.text.firstIndex { Column.parseNumber($0) == nil } ?? 0
        throw EvalError.labelKind(row: i + 1, line: column.line(of: i), column: column.name, value: column.text[i],
                                  modelLabels: "numbers")
    }

    /// The class of each row's most probable column (the first on ties, like ArgMax).
    static func argmaxLabels(_ probabilities: [Double], classes: [ClassLabel]) -> [ClassLabel] {
        let c = classes.count
        guard c > 0 else { return [] }
        return (0..<(probabilities.count / c)).map { r in
            var best = 0
            for k in 1..<c where probabilities[r * c + k] > probabilities[r * c + best] { best = k }
            return classes[best]
        }
    }

    /// The class of each probability column, when every column is some row's most probable and
    /// always goes with the same label output; nil otherwise.
    static func inferClasses(_ probabilities: [Double], columns: Int, labels: [ClassLabel]) -> [ClassLabel]? {
        let argmax = argmaxLabels(probabilities, classes: (0..<columns).map { .number(Double($0)) })
        var map: [ClassLabel?] = Array(repeating: nil, count: columns)
        for (a, label) in zip(argmax, labels) {
            guard case let .number(j) = a else { return nil }
            let k = Int(j)
            if let seen = map[k], seen != label { return nil }
            map[k] = label
        }
        let found = map.compactMap { $0 }
        guard found.count == columns, Set(found).count == columns else { return nil }
        return found
    }

    /// Metrics with NaN and infinities replaced by nil (JSON has no such numbers), with a note.
    static func finite(_ metrics: [String: Double?], notes: inout [String]) -> [String: Double?] {
        var out = metrics
        for (name, value) in metrics {
            if let v = value, !v.isFinite {
                out[name] = .some(nil)
                notes.append("\(name) is \(v) (reported as null)")
            }
        }
        return out
    }
}
