import Foundation

/// Time per operator type and per node over one or more runs, like ONNX Runtime's profiler summary:
/// what `berth perf --profile` prints. Attach one to ``Session/run(_:profile:)``; only the top-level
/// graph's nodes are timed (a Loop or If counts once, with its body inside its time), so the shares
/// add up to the run. The members of a fused blocked-layout region are timed too, apart
/// (``regionMembers``): a region is one node of the plan but most of a CNN's run.
public final class OpProfile: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var depth = 0
    private var byOp: [String: Entry] = [:]
    private var byNode: [String: Entry] = [:]
    private var byMember: [MemberKey: Entry] = [:]
    private struct MemberKey: Hashable {
        var region: String, node: String
    }

    /// Calls and total time of one operator type or node.
    public struct Entry: Sendable {
        public var op: String
        public var calls = 0
        public var nanoseconds: UInt64 = 0
        public init(op: String, calls: Int = 0, nanoseconds: UInt64 = 0) {
            self.op = op
            self.calls = calls
            self.nanoseconds = nanoseconds
        }
    }

    public init() {}

    /// Per operator type, slowest first.
    public var operators: [Entry] { lock.withLock { byOp.values.sorted { $0.nanoseconds > $1.nanoseconds } } }

    /// Per node (keyed by node name, or op type and position when unnamed), slowest first.
    public var nodes: [(name: String, entry: Entry)] {
        lock.withLock { byNode.map { ($0.key, $0.value) }.sorted { $0.1.nanoseconds > $1.1.nanoseconds } }
    }

    /// The members of fused regions, each under its region's node name, slowest first. Their times
    /// are part of the region's (the rest is the region's own work: layouts at its edges).
    public var regionMembers: [(region: String, node: String, entry: Entry)] {
        lock.withLock { byMember.map { ($0.key.region, $0.key.node, $0.value) }.sorted { $0.2.nanoseconds > $1.2.nanoseconds } }
    }

    /// Whether a region called now is a top-level step, so its members' times are worth keeping.
    var timesRegionMembers: Bool { lock.withLock { depth == 1 } }

    /// Records one member of the top-level region `region`, begun at `start` (from ``now``).
    func member(op: String, node: String, region: String, since start: UInt64) {
        let ns = DispatchTime.now().uptimeNanoseconds &- start
        lock.withLock {
            let key = MemberKey(region: region, node: node)
            byMember[key, default: Entry(op: op)].calls += 1
            byMember[key]!.nanoseconds += ns
        }
    }

    /// The clock ``member(op:node:region:since:)`` reads.
    static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Starts timing a step; nested graphs (If, Loop, Scan bodies) only deepen the nesting.
    func begin() -> UInt64 {
        lock.withLock { depth += 1 }
        return DispatchTime.now().uptimeNanoseconds
    }

    /// Ends the step begun at `start`, recording it when it belongs to the top-level graph.
    func end(op: String, node: String, since start: UInt64) {
        let ns = DispatchTime.now().uptimeNanoseconds &- start
        lock.withLock {
            depth -= 1
            guard depth == 0 else { return }
            byOp[op, default: Entry(op: op)].calls += 1
            byOp[op]!.nanoseconds += ns
            byNode[node, default: Entry(op: op)].calls += 1
            byNode[node]!.nanoseconds += ns
        }
    }
}
