import Foundation
import Logging

/// How a ``Session`` loads and runs a model.
public struct SessionOptions: Sendable {
    /// Threads one kernel may use (the intra-op pool), like ONNX Runtime's `intra_op_num_threads`.
    public var intraOpThreads: Int
    /// Run the graph optimizer at load (constant folding, identity elimination, fusions).
    public var optimize: Bool
    /// Where load-time information goes.
    public var logger: Logger

    public init(intraOpThreads: Int = ProcessInfo.processInfo.activeProcessorCount, optimize: Bool = true,
                logger: Logger = Logger(label: "berth.engine")) {
        self.intraOpThreads = max(1, intraOpThreads)
        self.optimize = optimize
        self.logger = logger
    }
}
