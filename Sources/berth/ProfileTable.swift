import BerthEngine
import Foundation

/// `berth perf --profile`'s report: milliseconds per run and share of the run per operator type,
/// then the slowest nodes, then what ran inside fused regions (per operator type and the slowest
/// members: their share is of the whole run too), as text or JSON.
struct ProfileTable {
    let operators: [OpProfile.Entry]
    let nodes: [(name: String, entry: OpProfile.Entry)]
    let members: [(region: String, node: String, entry: OpProfile.Entry)]
    /// Region members summed per operator type, slowest first.
    let memberOperators: [OpProfile.Entry]
    let runs: Int
    let totalNs: UInt64

    init(_ profile: OpProfile, runs: Int) {
        operators = profile.operators
        nodes = profile.nodes
        members = profile.regionMembers
        var byOp: [String: OpProfile.Entry] = [:]
        for m in members {
            byOp[m.entry.op, default: OpProfile.Entry(op: m.entry.op)].calls += m.entry.calls
            byOp[m.entry.op]!.nanoseconds += m.entry.nanoseconds
        }
        memberOperators = byOp.values.sorted { $0.nanoseconds > $1.nanoseconds }
        self.runs = max(1, runs)
        totalNs = operators.reduce(0) { $0 + $1.nanoseconds }
    }

    private func msPerRun(_ e: OpProfile.Entry) -> Double { Double(e.nanoseconds) / 1e6 / Double(runs) }
    private func share(_ e: OpProfile.Entry) -> Double { totalNs == 0 ? 0 : Double(e.nanoseconds) / Double(totalNs) * 100 }

    /// How many of the slowest nodes are listed.
    static let slowestNodes = 10

    var text: String {
        func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
        var lines = ["", pad("operator", 28) + "    calls     ms/run   share"]
        for e in operators {
            lines.append(pad(e.op, 28) + String(format: " %8d %10.3f %6.1f%%", e.calls / runs, msPerRun(e), share(e)))
        }
        lines.append("")
        lines.append(pad("slowest nodes", 40) + " " + pad("operator", 28) + "     ms/run   share")
        for (name, e) in nodes.prefix(Self.slowestNodes) {
            lines.append(pad(String(name.prefix(40)), 40) + " " + pad(e.op, 28) + String(format: " %10.3f %6.1f%%", msPerRun(e), share(e)))
        }
        if !members.isEmpty {
            lines.append("")
            lines.append(pad("inside fused regions", 28) + "    calls     ms/run   share")
            for e in memberOperators {
                lines.append(pad(e.op, 28) + String(format: " %8d %10.3f %6.1f%%", e.calls / runs, msPerRun(e), share(e)))
            }
            lines.append("")
            lines.append(pad("slowest region members", 40) + " " + pad("operator", 28) + "     ms/run   share")
            for m in members.prefix(Self.slowestNodes) {
                lines.append(pad(String("\(m.region) › \(m.node)".prefix(40)), 40) + " " + pad(m.entry.op, 28)
                             + String(format: " %10.3f %6.1f%%", msPerRun(m.entry), share(m.entry)))
            }
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        struct Row: Encodable {
            var op: String
            var calls: Int
            var ms: Double
            var share: Double
            var node: String?
            var region: String?
        }
        struct Report: Encodable {
            var operators: [Row]
            var nodes: [Row]
            var region_operators: [Row]
            var region_members: [Row]
        }
        func row(_ e: OpProfile.Entry, node: String? = nil, region: String? = nil) -> Row {
            Row(op: e.op, calls: e.calls / runs, ms: msPerRun(e), share: share(e), node: node, region: region)
        }
        let report = Report(
            operators: operators.map { row($0) },
            nodes: nodes.prefix(Self.slowestNodes).map { row($0.entry, node: $0.name) },
            region_operators: memberOperators.map { row($0) },
            region_members: members.map { row($0.entry, node: $0.node, region: $0.region) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(report)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// The process's peak resident memory, as the kernel counts it.
enum PeakMemory {
    /// Megabytes (MiB) of the resident high-water mark, or nil where it cannot be read.
    ///
    /// On Linux, `VmHWM` of /proc/self/status: getrusage's `ru_maxrss` survives exec, so a `berth`
    /// started by a 260 MB Python process reported at least 260 MB whatever it used itself.
    static func residentMegabytes() -> Double? {
        var usage = rusage()
        #if os(Linux)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kb = Double(line.dropFirst("VmHWM:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") {
            return kb / 1024
        }
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return nil }
        return Double(usage.ru_maxrss) / 1024  // kilobytes on Linux
        #else
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return nil }
        return Double(usage.ru_maxrss) / 1_048_576  // bytes on macOS
        #endif
    }
}
