import BerthEval
import BerthProtocol
import Foundation

/// The sampled log of requests and responses, in a ``PredictionStore``: SQLite under the data
/// directory (`predictions.sqlite`), or the replicas' shared PostgreSQL database.
///
/// The request path only appends to an in-memory batch; one background queue encodes the
/// tensors and writes a batch per transaction, then applies retention. Feedback and reads
/// write the pending batch first, so a label sent right after its prediction finds it.
public final class PredictionLog: @unchecked Sendable {
    // @unchecked: `pending`, `flushScheduled`, `dropped` and `lastRetention` are guarded by `lock`
    // (the last one by `writer`); the store is thread-safe and the rest immutable.
    /// What is kept and for how long.
    public let settings: PredictionLogSettings
    /// Where the rows live.
    public let store: any PredictionStore
    private let lock = NSLock()
    private var pending: [PredictionRecord] = []
    private var pendingBytes = 0
    private var flushScheduled = false
    private var droppedCount = 0
    private let writer = DispatchQueue(label: "berth.prediction-log")
    private var lastRetention = Date.distantPast

    /// The database file inside a data directory.
    public static let databaseFileName = "predictions.sqlite"

    /// Opens (creating and migrating) the SQLite log in `directory`.
    public convenience init(directory: URL, settings: PredictionLogSettings = PredictionLogSettings()) throws {
        self.init(store: try SQLitePredictionStore(directory: directory), settings: settings)
    }

    /// The log over `store`.
    public init(store: any PredictionStore, settings: PredictionLogSettings = PredictionLogSettings()) {
        self.store = store
        self.settings = settings
    }

    /// Opens an existing log for reading; an error names the folder when there is none.
    public static func existing(in directory: URL) throws -> PredictionLog {
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(databaseFileName).path) else {
            throw MonitorError.invalidArgument("no prediction log in \(directory.path) (serve with --prediction-log-sample to record one)")
        }
        return try PredictionLog(directory: directory)
    }

    /// True for the requests to log: each drawn independently with the sample rate.
    public func sample() -> Bool {
        settings.sampleRate >= 1 || (settings.sampleRate > 0 && Double.random(in: 0..<1) < settings.sampleRate)
    }

    /// Records dropped because the writer fell behind (or failed).
    public var dropped: Int { lock.withLock { droppedCount } }

    /// Queues `record` for the next batch; never blocks on the disk.
    public func append(_ record: PredictionRecord) {
        let size = record.approximateBytes
        let schedule: Bool = lock.withLock {
            guard pending.count < settings.maxPending, pendingBytes + size <= settings.maxPendingBytes else { droppedCount += 1; return false }
            pending.append(record)
            pendingBytes += size
            if flushScheduled { return false }
            flushScheduled = true
            return true
        }
        if schedule { writer.asyncAfter(deadline: .now() + settings.flushInterval) { [self] in writePending() } }
    }

    /// Writes every queued record now.
    public func flush() { writer.sync { writePending() } }

    /// Runs on `writer`: encodes and writes the queued records in batches, then retention.
    private func writePending() {
        let batch: [PredictionRecord] = lock.withLock {
            flushScheduled = false
            pendingBytes = 0
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        var start = 0
        while start < batch.count {
            let part = batch[start..<min(start + settings.batchSize, batch.count)]
            start += part.count
            let rows = part.map(encode)
            do {
                try store.insert(rows)
            } catch {
                lock.withLock { droppedCount += rows.count }
            }
        }
        if Date().timeIntervalSince(lastRetention) > 5 {
            lastRetention = Date()
            try? applyRetention(now: lastRetention)
        }
    }

    private func encode(_ r: PredictionRecord) -> EncodedPrediction {
        let outcome = RowOutcome.read(r.outputs).jsonText ?? RowOutcome.unknown.jsonText!
        return EncodedPrediction(id: r.id, time: r.time.timeIntervalSince1970, model: r.model, version: r.version, route: r.route,
                                 transport: r.transport, rows: r.rows, latencyMs: r.latencyMs,
                                 inputs: TensorListJSON.encode(settings.masking.apply(r.inputs)),
                                 outputs: TensorListJSON.encode(r.outputs), outcome: outcome)
    }

    /// Deletes records older than the maximum age, then the oldest beyond the maximum count.
    func applyRetention(now: Date) throws {
        try store.applyRetention(now: now, maxAge: settings.maxAge, maxRows: settings.maxRows)
    }

    // MARK: Reading

    /// Records of `model` (optionally one version) finished at or after `since`, oldest first.
    public func records(model: String, version: String? = nil, since: Date? = nil, limit: Int? = nil) throws -> [LoggedPrediction] {
        flush()
        return try store.records(model: model, version: version, since: since, limit: limit)
    }

    /// The newest labelled records of `model`'s `version` covering at least `rows` rows, newest first.
    public func labelled(model: String, version: String, rows: Int) throws -> [LoggedPrediction] {
        try newest(model: model, version: version, rows: rows, labelledOnly: true)
    }

    /// The newest records of `model`'s `version` covering at least `rows` rows, newest first.
    public func recent(model: String, version: String, rows: Int) throws -> [LoggedPrediction] {
        try newest(model: model, version: version, rows: rows, labelledOnly: false)
    }

    private func newest(model: String, version: String, rows: Int, labelledOnly: Bool) throws -> [LoggedPrediction] {
        flush()
        return try store.newest(model: model, version: version, rows: rows, labelledOnly: labelledOnly)
    }

    /// The versions of `model` with logged records, in order of their first record.
    public func versions(of model: String) throws -> [String] {
        flush()
        return try store.versions(of: model)
    }
}
