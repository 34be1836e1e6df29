import BerthEval
import Foundation

/// One logged request as the writer stores it: the record's fields with its tensors and outcome
/// already encoded as JSON text (masking applied).
public struct EncodedPrediction: Sendable, Equatable {
    public var id: String
    /// Seconds since 1970.
    public var time: Double
    public var model: String
    public var version: String
    public var route: String?
    public var transport: String
    public var rows: Int
    public var latencyMs: Double
    public var inputs: String
    public var outputs: String
    /// ``RowOutcome`` as JSON.
    public var outcome: String

    /// A row from its parts.
    public init(id: String, time: Double, model: String, version: String, route: String?, transport: String, rows: Int,
                latencyMs: Double, inputs: String, outputs: String, outcome: String) {
        self.id = id
        self.time = time
        self.model = model
        self.version = version
        self.route = route
        self.transport = transport
        self.rows = rows
        self.latencyMs = latencyMs
        self.inputs = inputs
        self.outputs = outputs
        self.outcome = outcome
    }
}

/// Where ``PredictionLog`` keeps its rows: SQLite in the data directory (one server), or the
/// shared PostgreSQL database of replicas (`--registry-url`), so every replica reads what any
/// of them logged and labels posted to one join rows logged by another. The log's batching,
/// sampling and encoding stay in ``PredictionLog``; a store only runs the statements.
public protocol PredictionStore: Sendable {
    /// True when other processes write to the same store (replicas): a label may name a request
    /// another replica has not written yet, so ``PredictionLog/attach(model:_:now:)`` retries once.
    var isShared: Bool { get }
    /// Appends `rows` in one transaction, in order.
    func insert(_ rows: [EncodedPrediction]) throws
    /// Deletes records older than `maxAge` before `now`, then the oldest beyond `maxRows`.
    func applyRetention(now: Date, maxAge: TimeInterval, maxRows: Int) throws
    /// Records of `model` (optionally one version) finished at or after `since`, oldest first.
    func records(model: String, version: String?, since: Date?, limit: Int?) throws -> [LoggedPrediction]
    /// The newest records of `model`'s `version` (only labelled ones, newest label first, with
    /// `labelledOnly`) until they cover `rows` rows, newest first.
    func newest(model: String, version: String, rows: Int, labelledOnly: Bool) throws -> [LoggedPrediction]
    /// The versions of `model` with logged records, in order of their first record.
    func versions(of model: String) throws -> [String]
    /// Joins each label to the newest record of `model` with its id (see ``PredictionLog/attach(model:_:now:)``).
    func attach(model: String, _ feedback: [Feedback], now: Date) throws -> FeedbackResult
}

extension LoggedPrediction {
    /// A record read back from a store's columns (`outcome` and `labels` as their JSON text).
    public init(id: String, time: Double, model: String, version: String, route: String?, transport: String, rows: Int,
                latencyMs: Double, inputs: String, outputs: String, outcomeJSON: String, labelsJSON: String?) {
        self.init(id: id, time: Date(timeIntervalSince1970: time), model: model, version: version, route: route, transport: transport,
                  rows: rows, latencyMs: latencyMs, inputs: inputs, outputs: outputs,
                  outcome: (try? JSONDecoder().decode(RowOutcome.self, from: Data(outcomeJSON.utf8))) ?? .unknown,
                  labels: labelsJSON.flatMap { try? JSONDecoder().decode([ClassLabel].self, from: Data($0.utf8)) })
    }
}
