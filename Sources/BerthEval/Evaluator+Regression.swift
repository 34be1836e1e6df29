import BerthTensor

extension Evaluator {
    /// Regression metrics from the value output.
    func regress(_ dataset: Dataset, outputs: [String: Tensor], options: Options, model: String, data: String) throws
        -> (Report, Predictions)
    {
        guard let valueName = try pickOutput(options.valueOutput, in: outputs, role: "value output", hint: "variable",
                                             fits: Evaluator.isValueOutput) else {
            throw EvalError.outputs("the model has no float output with one value per row ([N] or [N, 1]); its outputs are "
                + describe(outputs))
        }
        let truth = try dataset.labels.numericValues()
        if let i = truth.firstIndex(where: { !$0.isFinite }) {
            throw EvalError.nonNumeric(row: i + 1, line: dataset.labels.line(of: i), column: dataset.labels.name,
                                       value: dataset.labels.text[i])
        }
        let predicted = outputs[valueName]!.doubles
        let m = RegressionMetrics(truth: truth, predicted: predicted)
        var notes: [String] = []
        if m.r2 == nil { notes.append("R² is undefined for fewer than two rows") }
        let metrics = Evaluator.finite(["mse": m.mse, "rmse": m.rmse, "mae": m.mae, "r2": m.r2], notes: &notes)
        let report = Report(model: model, data: data, task: .regression, rows: truth.count, labelColumn: dataset.labels.name,
                            outputs: .init(label: nil, probabilities: nil, value: valueName), classes: nil, classOrder: nil,
                            metrics: metrics, perClass: nil, confusionMatrix: nil, gates: nil, passed: nil, notes: notes)
        return (report, .regression(truth: truth, predicted: predicted))
    }
}
