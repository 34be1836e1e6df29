import ArgumentParser
import BerthMonitor
import BerthRegistry
import Foundation

/// `berth keys`: API keys in the registry's data directory (see docs/security.md).
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke the API keys `berth serve` accepts.",
        discussion: """
            Keys live in the registry database of --data-dir (default ./berth-data, or $BERTH_DATA_DIR), as SHA-256 \
            hashes: a key is shown once, when it is created. Roles: viewer < invoker < deployer < admin (each includes \
            the ones before it). Exit status: 0 on success, 2 on bad input.
            """,
        subcommands: [KeysCreate.self, KeysList.self, KeysRevoke.self]
    )
}

struct KeysCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a key; prints it alone on the last line (it is never shown again).")

    @OptionGroup var options: RegistryOptions

    @Option(help: "The tenant the key acts for.")
    var tenant: String

    @Option(help: ArgumentHelp("viewer, invoker, deployer or admin.", valueName: "role"))
    var role: String

    @Option(help: ArgumentHelp("Models the key may touch: names or globs, comma-separated.", valueName: "pattern"))
    var models = "*"

    @Option(help: ArgumentHelp("The key stops working after this long (e.g. 30d, 12h, 3600s).", valueName: "age"))
    var expires: String?

    @Option(help: "What the key is for (shown by list).")
    var description = ""

    func run() throws {
        try runRegistry {
            guard let role = Role(rawValue: role) else {
                throw RegistryError.badInput("unknown role '\(role)': use viewer, invoker, deployer or admin")
            }
            guard role != .admin || models == "*" else {
                throw RegistryError.badInput("an admin key acts on every model: --models does not apply to --role admin")
            }
            var expiry: Date?
            if let expires {
                guard let s = DurationText.seconds(expires), s > 0 else {
                    throw RegistryError.badInput("--expires '\(expires)' is not an age such as 30d, 12h or 3600s")
                }
                expiry = Date().addingTimeInterval(s)
            }
            let store = try options.open()
            let (record, secret) = try store.createKey(tenant: tenant, role: role, models: try ModelPattern(models),
                                                       description: description, expiresAt: expiry)
            try store.audit(AuditEntry(keyID: nil, tenant: record.tenant, role: nil, action: "keys create",
                                       target: "\(record.id) \(record.role.rawValue) \(record.models)", status: 0, source: "cli"))
            if options.json {
                try printJSON(CreatedKey(key: secret.text, record: record))
            } else {
                FileHandle.standardError.write(Data("created key \(record.id) (tenant \(record.tenant), role \(record.role.rawValue), models \(record.models))\n".utf8))
                print(secret.text)
            }
        }
    }

    struct CreatedKey: Encodable {
        var key: String
        var record: APIKeyRecord
    }
}

struct KeysList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "One key a line: id, tenant, role, models, state.")

    @OptionGroup var options: RegistryOptions

    func run() throws {
        try runRegistry {
            let keys = try options.open().keys()
            if options.json { return try printJSON(keys) }
            let now = Date()
            for k in keys {
                let state = k.revokedAt.map { "revoked \(formatTime($0))" }
                    ?? k.expiresAt.map { $0 <= now ? "expired \(formatTime($0))" : "expires \(formatTime($0))" } ?? "active"
                print([k.id, k.tenant, k.role.rawValue, k.models.description, state, k.description]
                    .filter { !$0.isEmpty }.joined(separator: "  "))
            }
        }
    }
}

struct KeysRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a key at once (servers refuse it on its next use).")

    @OptionGroup var options: RegistryOptions

    @Argument(help: "The key's id (the first column of `berth keys list`).")
    var id: String

    func run() throws {
        try runRegistry {
            let store = try options.open()
            let k = try store.revokeKey(id: id)
            try store.audit(AuditEntry(keyID: nil, tenant: k.tenant, role: nil, action: "keys revoke", target: k.id, status: 0, source: "cli"))
            if options.json { try printJSON(k) } else { print("revoked \(k.id) (tenant \(k.tenant), role \(k.role.rawValue))") }
        }
    }
}
