import BerthTensor

extension Evaluator {
    /// The output to read for one role: `requested` when given (it must exist and fit), else
    /// the first output that fits, preferring one whose name contains `hint`. Nil when none fits.
    func pickOutput(_ requested: String?, in outputs: [String: Tensor], role: String, hint: String,
                    fits: (Tensor) -> Bool) throws -> String? {
        let order = session.outputs.map(\.name).filter { outputs[$0] != nil }
        if let requested {
            guard let t = outputs[requested] else {
                throw EvalError.outputs("the model has no output '\(requested)' with one entry per row; its outputs are "
                    + describe(outputs))
            }
            guard fits(t) else { throw EvalError.outputs("output '\(requested)' (\(t.typeDescription)) cannot be the \(role)") }
            return requested
        }
        let candidates = order.filter { fits(outputs[$0]!) }
        return candidates.first { $0.lowercased().contains(hint) } ?? candidates.first
    }

    /// `label int64[150], probabilities float[150, 3]`.
    func describe(_ outputs: [String: Tensor]) -> String {
        let names = session.outputs.map(\.name).filter { outputs[$0] != nil }
        return names.isEmpty ? "none" : names.map { "\($0) \(outputs[$0]!.typeDescription)" }.joined(separator: ", ")
    }

    /// Integer or string labels, `[N]` or `[N, 1]`.
    static func isLabelOutput(_ t: Tensor) -> Bool {
        !t.dtype.isFloatingPoint && t.dtype != .bool && (t.rank == 1 || (t.rank == 2 && t.shape[1] == 1))
    }

    /// Float `[N, C]` with at least two classes.
    static func isProbabilityOutput(_ t: Tensor) -> Bool {
        t.dtype.isFloatingPoint && t.rank == 2 && t.shape[1] >= 2
    }

    /// Float `[N]` or `[N, 1]`.
    static func isValueOutput(_ t: Tensor) -> Bool {
        t.dtype.isFloatingPoint && (t.rank == 1 || (t.rank == 2 && t.shape[1] == 1))
    }
}
