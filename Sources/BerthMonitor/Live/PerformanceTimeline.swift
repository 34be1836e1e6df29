import Foundation

/// Realized metrics over time: the newest labelled records cut into chunks of consecutive rows,
/// each chunk's metrics at its last request's time (the dashboard's accuracy chart).
public struct PerformanceTimeline: Sendable, Encodable, Equatable {
    /// Each chunk's last request time, in seconds since 1970.
    public var time: [Double] = []
    /// The chunk's accuracy (classification) or RMSE (regression).
    public var value: [Double] = []
    /// `accuracy` or `rmse`.
    public var metric: String = "accuracy"

    /// Chunks of at least `chunkRows` labelled rows from `records` (any order).
    public init(_ records: [LoggedPrediction], chunkRows: Int) {
        let sorted = records.filter { $0.labels != nil }.sorted { $0.time < $1.time }
        var chunk: [LoggedPrediction] = [], rows = 0
        func close() {
            guard let last = chunk.last, let p = RealizedPerformance.compute(chunk.reversed(), window: Int.max) else { return }
            metric = p.task == "regression" ? "rmse" : "accuracy"
            guard let v = p.value(metric) else { return }
            time.append(last.time.timeIntervalSince1970)
            value.append(v)
        }
        for r in sorted {
            chunk.append(r)
            rows += r.rows
            if rows >= chunkRows { close(); chunk = []; rows = 0 }
        }
        if rows * 2 >= chunkRows { close() }
    }
}
