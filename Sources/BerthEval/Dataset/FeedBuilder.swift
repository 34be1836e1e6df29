import BerthONNX
import BerthTensor

/// Matches a data set's features to a model's inputs and builds one tensor per input holding
/// every row. When the model has one 2-D input, the feature columns in file order form it;
/// otherwise each input is read from the column of the same name as an `[N]` or `[N, 1]` tensor.
/// Values are converted to each input's dtype.
public struct FeedBuilder: Sendable {
    /// The model inputs to feed.
    public let inputs: [ValueInfo]

    /// A builder for a model with these inputs (``Session/inputs``).
    public init(inputs: [ValueInfo]) {
        self.inputs = inputs
    }

    /// One tensor per model input, each with the data set's rows along axis 0.
    public func feeds(for features: Dataset.Features) throws -> [String: Tensor] {
        switch features {
        case let .array(array):
            guard inputs.count == 1, let input = inputs.first else {
                throw EvalError.outputs("a .npy data set feeds a model with one input; this model has \(inputs.count) ("
                    + inputs.map(\.name).joined(separator: ", ") + ")")
            }
            return [input.name: try convert(array, to: input)]
        case let .table(table):
            if inputs.count == 1, let input = inputs.first, input.shape == nil || input.shape?.count == 2 {
                return [input.name: try matrix(table, input: input)]
            }
            var feeds: [String: Tensor] = [:]
            for input in inputs {
                let column = try table.column(input.name, purpose: "model input '\(input.name)'")
                let rank = input.shape?.count ?? 2
                guard rank == 1 || rank == 2 else {
                    throw EvalError.unsupportedInput(name: input.name, reason: "a rank-\(rank) input cannot be read from one column")
                }
                if rank == 2, let d = input.shape?[1].value, d != 1 {
                    throw EvalError.featureCount(input: input.name, expected: d, got: 1, columns: [column.name])
                }
                let shape = rank == 1 ? [table.rowCount] : [table.rowCount, 1]
                feeds[input.name] = try Tensor(shape: shape, storage: try storage([column], input: input))
            }
            return feeds
        }
    }

    /// The feature columns side by side as an `[N, F]` tensor for the model's one input.
    private func matrix(_ table: Table, input: ValueInfo) throws -> Tensor {
        if let f = input.shape?[1].value, f != table.columns.count {
            throw EvalError.featureCount(input: input.name, expected: f, got: table.columns.count, columns: table.names)
        }
        guard !table.columns.isEmpty else {
            throw EvalError.featureCount(input: input.name, expected: input.shape?[1].value ?? 1, got: 0, columns: [])
        }
        return try Tensor(shape: [table.rowCount, table.columns.count], storage: try storage(table.columns, input: input))
    }

    /// Columns interleaved row by row (row-major `[N, columns.count]`) in the input's dtype.
    private func storage(_ columns: [Column], input: ValueInfo) throws -> TensorStorage {
        guard let dtype = input.dtype else {
            throw EvalError.unsupportedInput(name: input.name, reason: "the model does not declare its element type")
        }
        let rows = columns.first?.count ?? 0
        if dtype == .string {
            var out: [String] = []
            out.reserveCapacity(rows * columns.count)
            for r in 0..<rows { for c in columns { out.append(c.text[r]) } }
            return .string(out)
        }
        let values = try columns.map { try $0.numericValues() }
        var flat: [Double] = []
        flat.reserveCapacity(rows * columns.count)
        for r in 0..<rows { for v in values { flat.append(v[r]) } }
        if dtype == .bool { return .bool(flat.map { $0 != 0 }) }
        if !dtype.isFloatingPoint {
            for (k, v) in flat.enumerated() where v.rounded() != v || !v.isFinite {
                let column = columns[k % columns.count], row = k / columns.count
                throw EvalError.nonInteger(row: row + 1, line: column.line(of: row), column: column.name,
                                           value: column.text[row])
            }
        }
        return try Self.cast(flat, to: dtype)
    }

    /// An array converted to the input's dtype (numbers through Double; strings stay strings).
    private func convert(_ array: Tensor, to input: ValueInfo) throws -> Tensor {
        guard let dtype = input.dtype, dtype != array.dtype else { return array }
        if array.dtype == .string || dtype == .string || dtype == .bool || array.dtype == .bool {
            throw EvalError.unsupportedInput(name: input.name, reason: "takes \(dtype), the data array is \(array.dtype)")
        }
        let values = (0..<array.count).map { array.storage.double(at: $0) }
        return try Tensor(shape: array.shape, storage: try Self.cast(values, to: dtype))
    }

    /// Doubles as storage of a numeric dtype.
    static func cast(_ values: [Double], to dtype: DType) throws -> TensorStorage {
        guard let storage = dtype.withNumericType({ type in Self.storage(values, type) }) else {
            throw EvalError.invalidArgument("cannot convert numbers to \(dtype)")
        }
        return storage
    }

    private static func storage<T: NumericElement>(_ values: [Double], _: T.Type) -> TensorStorage {
        T.storage(values.map { T(fromDouble: $0) })
    }
}
