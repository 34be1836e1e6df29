import Foundation
import Prometheus

/// The standard Prometheus `process_*` metrics of this process, read from `/proc/self` on Linux
/// each time the metrics are scraped. Where `/proc` is missing (macOS) only the start time is
/// reported and the other values stay 0.
final class ProcessMetrics: @unchecked Sendable {
    private let residentMemory: Gauge
    private let virtualMemory: Gauge
    private let startTime: Gauge
    private let openFDs: Gauge
    private let cpuSeconds: Counter
    /// Serialises scrapes: the CPU counter is reset and refilled, which must not interleave.
    private let lock = NSLock()

    init(registry: PrometheusCollectorRegistry) {
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: MetricName.descriptor(name, help), labels: [])
        }
        residentMemory = gauge(MetricName.residentMemory, "Resident memory size in bytes.")
        virtualMemory = gauge(MetricName.virtualMemory, "Virtual memory size in bytes.")
        startTime = gauge(MetricName.startTime, "Start time of the process since unix epoch in seconds.")
        openFDs = gauge(MetricName.openFDs, "Number of open file descriptors.")
        cpuSeconds = registry.makeCounter(
            descriptor: MetricName.descriptor(MetricName.cpuSeconds, "Total user and system CPU time spent in seconds."),
            labels: [])
        startTime.set(ProcSelf.startTime() ?? Date().timeIntervalSince1970)
    }

    /// Refreshes the values from `/proc`, then runs `body` (the emission) under the same lock.
    func withFreshValues<R>(_ body: () -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        if let m = ProcSelf.memory() {
            residentMemory.set(Double(m.resident))
            virtualMemory.set(Double(m.virtual))
        }
        if let cpu = ProcSelf.cpuSeconds() {
            cpuSeconds.reset()
            cpuSeconds.increment(by: cpu)
        }
        if let n = ProcSelf.openFileDescriptors() { openFDs.set(Double(n)) }
        return body()
    }
}

/// Readers for `/proc/self` (proc(5)). Each returns nil when the file is missing or malformed.
enum ProcSelf {
    static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }
    static var clockTicksPerSecond: Double { Double(sysconf(Int32(_SC_CLK_TCK))) }

    /// Resident and virtual memory in bytes, from `/proc/self/statm` (sizes in pages).
    static func memory(statm: String? = read("/proc/self/statm")) -> (resident: Int, virtual: Int)? {
        guard let statm else { return nil }
        let fields = statm.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard fields.count >= 2 else { return nil }
        return (fields[1] * pageSize, fields[0] * pageSize)
    }

    /// The fields of `/proc/self/stat` after the command name, so index 0 is field 3 (`state`).
    static func statFields(_ stat: String? = read("/proc/self/stat")) -> [Substring]? {
        // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
        guard let stat, let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// User plus system CPU seconds (fields 14 and 15, in clock ticks).
    static func cpuSeconds() -> Double? {
        guard let f = statFields(), f.count > 12, let u = Double(f[11]), let s = Double(f[12]) else { return nil }
        return (u + s) / clockTicksPerSecond
    }

    /// Process start as seconds since the epoch: boot time (`btime` in `/proc/stat`) plus
    /// field 22 of `/proc/self/stat` (clock ticks after boot).
    static func startTime() -> Double? {
        guard let f = statFields(), f.count > 19, let ticks = Double(f[19]),
              let stat = read("/proc/stat"),
              let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let boot = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        else { return nil }
        return boot + ticks / clockTicksPerSecond
    }

    /// Entries in `/proc/self/fd`.
    static func openFileDescriptors() -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count
    }

    static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
