import Foundation

/// How much the prediction log keeps (`berth serve --prediction-log-*`).
public struct PredictionLogSettings: Sendable, Equatable {
    /// Fraction of requests logged, 0…1 (each request drawn independently).
    public var sampleRate: Double
    /// Rows kept at most; the oldest go first.
    public var maxRows: Int
    /// Age after which a record is deleted.
    public var maxAge: TimeInterval
    /// What is kept of each input.
    public var masking: LogMasking
    /// Records written per transaction at most.
    public var batchSize = 512
    /// How long a record may wait in memory before it is written.
    public var flushInterval: TimeInterval = 0.2
    /// Records held in memory at most while the writer falls behind; beyond it new records are
    /// dropped (and counted), so a slow disk never slows or fails requests.
    public var maxPending = 20_000
    /// The same bound in bytes of tensor data (large inputs such as images reach it first).
    public var maxPendingBytes = 256 << 20

    /// Settings from their parts; defaults keep a million records for 30 days.
    public init(sampleRate: Double = 1, maxRows: Int = 1_000_000, maxAge: TimeInterval = 30 * 86_400,
                masking: LogMasking = LogMasking()) {
        self.sampleRate = sampleRate
        self.maxRows = maxRows
        self.maxAge = maxAge
        self.masking = masking
    }
}
