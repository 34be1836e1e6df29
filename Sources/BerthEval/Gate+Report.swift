import BerthGate

extension Gate {
    /// Checks the gate against a report's metrics (an undefined metric never passes).
    public func check(_ report: Report) -> GateResult { result(for: report.metric(metric)) }
}
