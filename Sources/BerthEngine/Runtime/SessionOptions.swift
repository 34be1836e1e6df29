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
    /// Bounds on work the model decides at run time (Loop iterations, scan output size).
    public var limits: RunLimits

    public init(intraOpThreads: Int = ProcessInfo.processInfo.activeProcessorCount, optimize: Bool = true,
                logger: Logger = Logger(label: "berth.engine"), limits: RunLimits = RunLimits()) {
        self.intraOpThreads = max(1, intraOpThreads)
        self.optimize = optimize
        self.logger = logger
        self.limits = limits
    }
}

/// Bounds on run-time work whose size an untrusted model can choose freely: a Loop's trip count
/// and exit condition come from the model or a feed (PyTorch exports `while` loops with a trip
/// count of 2^63-1), so a bad one would otherwise spin forever or grow its outputs until the
/// process dies. Exceeding a bound is a run-time error naming the node.
public struct RunLimits: Sendable {
    /// Iterations one Loop node may run in one call.
    public var maxLoopIterations: Int
    /// Bytes the scan outputs of one Loop or Scan node may accumulate in one call; also the most
    /// a Loop's loop-carried values may hold after an iteration (a body that doubles its state
    /// would otherwise exhaust memory long before the iteration bound).
    public var maxScanOutputBytes: Int
    /// Elements one tensor whose size the model or a feed decides (ConstantOfShape, Expand, Tile,
    /// Range, Resize, Pad, …) may have; checked before the kernel allocates it.
    public var maxTensorElements: Int

    /// The default per-tensor bound: 2^32 elements, and 8-byte elements filling at most a quarter of
    /// physical memory.
    public static let defaultMaxTensorElements = min(1 << 32, Int(clamping: ProcessInfo.processInfo.physicalMemory / 32))

    public init(maxLoopIterations: Int = 10_000_000, maxScanOutputBytes: Int = 1 << 30,
                maxTensorElements: Int = RunLimits.defaultMaxTensorElements) {
        self.maxLoopIterations = max(0, maxLoopIterations)
        self.maxScanOutputBytes = max(0, maxScanOutputBytes)
        self.maxTensorElements = max(0, maxTensorElements)
    }

    /// The limits of the session running on this task or thread: bound by ``Session`` around a run and
    /// around load-time constant folding, read by shape kernels that have no ``KernelContext`` at hand.
    @TaskLocal public static var active = RunLimits()
}
