import BerthEval
import Foundation

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

        /// An item refused for `reason`.
        public init(id: String, reason: String) {
            self.id = id
            self.reason = reason
        }
    }

    /// A result from its parts.
    public init(accepted: Int, unknown: [String], rejected: [Rejected]) {
        self.accepted = accepted
        self.unknown = unknown
        self.rejected = rejected
    }
}

extension FeedbackResult {
    /// The reason a label list is refused for a request of `rows` rows.
    public static func rowMismatch(rows: Int, labels: Int) -> String {
        "the request had \(rows) rows but \(labels) labels were sent"
    }
}

extension Feedback {
    /// The labels as the log stores them (JSON).
    public static func labelsJSON(_ labels: [ClassLabel]) throws -> String {
        String(decoding: try JSONEncoder().encode(labels), as: UTF8.self)
    }
}

extension PredictionLog {
    /// Joins `feedback` to `model`'s logged requests by id (the newest request with that id);
    /// a second label for an id replaces the first.
    ///
    /// In a store shared by replicas, a request answered by another replica a moment ago may
    /// still wait in that replica's batch: ids not found are tried once more after two flush
    /// intervals (the longest a record waits in memory, with room for the write).
    public func attach(model: String, _ feedback: [Feedback], now: Date = Date()) throws -> FeedbackResult {
        flush()
        var result = try store.attach(model: model, feedback, now: now)
        guard store.isShared, !result.unknown.isEmpty else { return result }
        Thread.sleep(forTimeInterval: 2 * settings.flushInterval)
        let missing = Set(result.unknown)
        let retry = try store.attach(model: model, feedback.filter { missing.contains($0.id) }, now: now)
        result.accepted += retry.accepted
        result.unknown = retry.unknown
        result.rejected += retry.rejected
        return result
    }
}
