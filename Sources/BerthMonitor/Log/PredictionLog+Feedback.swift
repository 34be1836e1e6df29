import BerthEval
import Foundation
import GRDB

/// Ground truth for one logged request: `{"id": "...", "label": V}` with V one label (a
/// one-row request) or one per row, each a number (class or regression target) or a string.
public struct Feedback: Sendable, Equatable, Decodable {
    /// The V2 request id the server answered with.
    public var id: String
    /// One true label per row of the request.
    public var labels: [ClassLabel]

    /// Feedback from its parts.
    public init(id: String, labels: [ClassLabel]) {
        self.id = id
        self.labels = labels
    }

    enum CodingKeys: String, CodingKey { case id, label }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        if let many = try? c.decode([ClassLabel].self, forKey: .label) {
            labels = many
        } else {
            labels = [try c.decode(ClassLabel.self, forKey: .label)]
        }
    }
}

/// What became of a batch of feedback.
public struct FeedbackResult: Sendable, Equatable, Encodable {
    /// Labels joined to a logged request.
    public var accepted: Int
    /// Ids with no logged request of the model (never sent, not sampled, or past retention).
    public var unknown: [String]
    /// Ids whose labels could not be joined, with the reason.
    public var rejected: [Rejected]

    /// One refused item.
    public struct Rejected: Sendable, Equatable, Encodable {
        public var id: String
        public var reason: String
    }
}

extension PredictionLog {
    /// Joins `feedback` to `model`'s logged requests by id (the newest request with that id);
    /// a second label for an id replaces the first.
    public func attach(model: String, _ feedback: [Feedback], now: Date = Date()) throws -> FeedbackResult {
        flush()
        var result = FeedbackResult(accepted: 0, unknown: [], rejected: [])
        try pool.write { db in
            for f in feedback {
                guard let row = try Row.fetchOne(db, sql: "SELECT seq, rows FROM prediction WHERE model = ? AND id = ? ORDER BY seq DESC LIMIT 1",
                                                 arguments: [model, f.id]) else {
                    result.unknown.append(f.id)
                    continue
                }
                let rows: Int = row["rows"]
                guard f.labels.count == rows else {
                    result.rejected.append(.init(id: f.id, reason: "the request had \(rows) rows but \(f.labels.count) labels were sent"))
                    continue
                }
                let text = String(decoding: try JSONEncoder().encode(f.labels), as: UTF8.self)
                let seq: Int64 = row["seq"]
                try db.execute(sql: "UPDATE prediction SET labels = ?, label_time = ? WHERE seq = ?",
                               arguments: [text, now.timeIntervalSince1970, seq])
                result.accepted += 1
            }
        }
        return result
    }
}
