import BerthEngine
import BerthONNX
import BerthTensor
import Foundation

/// Runs a model over a data set in batches and computes the metrics of its task.
public struct Evaluator: Sendable {
    /// Which outputs to read and how to batch; nil output names are found from the outputs' types.
    public struct Options: Sendable {
        /// Classification or regression.
        public var task: EvalTask
        /// Rows per `Session.run`; a model with a fixed batch dimension uses that instead.
        public var batchSize: Int
        /// Classification: the predicted-label output (int64 or string `[N]`).
        public var labelOutput: String?
        /// Classification: the probability output (float `[N, C]`, or ZipMap's `[N, C]` tensor).
        public var probabilityOutput: String?
        /// Regression: the predicted-value output (float `[N]` or `[N, 1]`).
        public var valueOutput: String?

        /// Options for `task`; outputs not named are found from their types.
        public init(task: EvalTask, batchSize: Int = 256, labelOutput: String? = nil, probabilityOutput: String? = nil,
                    valueOutput: String? = nil) {
            self.task = task
            self.batchSize = batchSize
            self.labelOutput = labelOutput
            self.probabilityOutput = probabilityOutput
            self.valueOutput = valueOutput
        }
    }

    /// The session that runs the model.
    public let session: Session
    /// The graph as the file holds it (before optimization), where class labels are looked up.
    public let graph: Graph

    /// Evaluates a loaded session; `graph` is the unoptimized graph (defaults to the session's).
    public init(session: Session, graph: Graph? = nil) {
        self.session = session
        self.graph = graph ?? session.model.graph
    }

    /// Loads a model file.
    public init(contentsOf url: URL, options: SessionOptions = SessionOptions()) throws {
        let model: Model
        do { model = try ModelReader.read(contentsOf: url) } catch {
            throw EvalError.invalidArgument("cannot load model \(url.path): \(error)")
        }
        do { session = try Session(model: model, options: options) } catch {
            throw EvalError.invalidArgument("cannot load model \(url.path): \(error)")
        }
        graph = model.graph
    }

    /// Runs the model on every row, `batchSize` rows at a time, and joins each output's batches
    /// along axis 0. Outputs that do not have one entry per row are dropped.
    public func run(_ dataset: Dataset, batchSize: Int) throws -> [String: Tensor] {
        let feeds = try FeedBuilder(inputs: session.inputs).feeds(for: dataset.features)
        let n = dataset.rowCount
        let batch = try effectiveBatch(batchSize, rows: n)
        var parts: [String: [Tensor]] = [:]
        var start = 0
        while start < n {
            let end = min(start + batch, n)
            var batchFeeds: [String: Tensor] = [:]
            for (name, t) in feeds { batchFeeds[name] = try t.rows(start..<end) }
            let out: [String: Tensor]
            do { out = try session.run(batchFeeds) } catch {
                throw EvalError.run(firstRow: start + 1, lastRow: end, message: "\(error)")
            }
            for (name, t) in out where t.shape.first == end - start { parts[name, default: []].append(t) }
            start = end
        }
        var joined: [String: Tensor] = [:]
        for (name, ts) in parts where ts.count == parts.values.map(\.count).max() {
            let shape = [n] + ts[0].shape.dropFirst()
            joined[name] = try Tensor(shape: shape, storage: try TensorStorage.concatenate(ts.map(\.storage)))
        }
        return joined
    }

    /// The batch size to use: the model's fixed batch dimension when it has one.
    private func effectiveBatch(_ requested: Int, rows: Int) throws -> Int {
        guard requested > 0 else { throw EvalError.invalidArgument("the batch size must be positive, got \(requested)") }
        let fixed = session.inputs.compactMap { $0.shape?.first?.value }.first
        guard let fixed, fixed > 0 else { return requested }
        guard rows % fixed == 0 else {
            throw EvalError.invalidArgument("the model's inputs have a fixed batch of \(fixed) rows, but the data has \(rows) rows (not a multiple)")
        }
        return fixed
    }

    /// Runs the model and computes the task's metrics. `model` and `data` name the files in the report.
    public func evaluate(_ dataset: Dataset, options: Options, model: String, data: String) throws -> (Report, Predictions) {
        let outputs = try run(dataset, batchSize: options.batchSize)
        switch options.task {
        case .classification:
            return try classify(dataset, outputs: outputs, options: options, model: model, data: data)
        case .regression:
            return try regress(dataset, outputs: outputs, options: options, model: model, data: data)
        }
    }
}
