import ArgumentParser
import BerthMonitor
import BerthRegistry
import Foundation

/// `berth audit`: the append-only log of admin actions and key management.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Print the audit log: admin actions through the API and key changes, with tenant and key id.")

    @OptionGroup var options: RegistryOptions

    @Option(help: ArgumentHelp("Only entries younger than this (e.g. 1h, 7d).", valueName: "age"))
    var since: String?

    @Option(help: "At most this many entries (the newest).")
    var limit = 1000

    func run() throws {
        try runRegistry {
            var from: Date?
            if let since {
                guard let s = DurationText.seconds(since), s > 0 else { throw RegistryError.badInput("--since '\(since)' is not an age such as 1h or 7d") }
                from = Date().addingTimeInterval(-s)
            }
            let entries = try options.open().auditLog(since: from, limit: limit)
            if options.json { return try printJSON(entries) }
            for e in entries {
                print([formatTime(e.at), e.tenant ?? "-", e.keyID ?? "-", e.role?.rawValue ?? "-", e.action, e.target ?? "-",
                       String(e.status), e.source].joined(separator: "  "))
            }
        }
    }
}
