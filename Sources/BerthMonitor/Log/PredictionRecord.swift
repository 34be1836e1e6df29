import BerthEval
import BerthTensor
import Foundation

/// One logged request: who answered it, what went in and came out, and how long it took.
/// Built on the request path from values already there; encoded to JSON by the log's writer.
public struct PredictionRecord: Sendable {
    /// The V2 request id (the client's, or the one the server generated and answered with).
    public var id: String
    /// When the request finished.
    public var time: Date
    /// The model's name.
    public var model: String
    /// The version that answered.
    public var version: String
    /// The traffic side that chose the version (production, canary, version); nil for a repository model.
    public var route: String?
    /// `rest` or `grpc`.
    public var transport: String
    /// Rows the request carried.
    public var rows: Int
    /// Wall time of the request in milliseconds.
    public var latencyMs: Double
    /// Inputs in request order, masking not yet applied.
    public var inputs: [(name: String, tensor: Tensor)]
    /// Outputs in model order.
    public var outputs: [(name: String, tensor: Tensor)]

    /// A record from its parts.
    public init(id: String, time: Date, model: String, version: String, route: String?, transport: String, rows: Int,
                latencyMs: Double, inputs: [(name: String, tensor: Tensor)], outputs: [(name: String, tensor: Tensor)]) {
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
    }
}

/// A logged request as read back (export, feedback): the stored JSON texts as they are.
public struct LoggedPrediction: Sendable, Codable, Equatable {
    public var id: String
    public var time: Date
    public var model: String
    public var version: String
    public var route: String?
    public var transport: String
    public var rows: Int
    public var latencyMs: Double
    /// `[{"name","datatype","shape","data"}]` after masking.
    public var inputs: String
    /// Same form as `inputs`.
    public var outputs: String
    /// What the model answered per row.
    public var outcome: RowOutcome
    /// The true labels per row, once feedback arrived (a number — a class or a regression
    /// target — or a string).
    public var labels: [ClassLabel]?

    enum CodingKeys: String, CodingKey {
        case id, time, model, version, route, transport, rows, inputs, outputs, outcome, labels
        case latencyMs = "latency_ms"
    }
}

extension PredictionRecord {
    /// Bytes the record holds in memory, roughly: 8 per tensor element (strings by length).
    var approximateBytes: Int {
        (inputs + outputs).reduce(256) { total, item in
            if case let .string(v) = item.tensor.storage { return total + v.reduce(0) { $0 + $1.utf8.count + 16 } }
            return total + item.tensor.count * 8
        }
    }
}
