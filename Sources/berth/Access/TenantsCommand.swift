import ArgumentParser
import BerthRegistry
import Foundation

/// `berth tenants`: per-tenant limits and model ownership.
struct TenantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenants",
        abstract: "Set tenants' quotas (requests/s, rows/s, concurrency, fair share) and models' owners.",
        discussion: "Servers on the data directory apply quota changes within a few seconds. Exit status: 0 on success, 2 on bad input.",
        subcommands: [TenantsQuota.self, TenantsList.self, TenantsAssign.self]
    )
}

struct TenantsQuota: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota", abstract: "Set (replace) a tenant's limits on all its models or on one; --remove deletes them.")

    @OptionGroup var options: RegistryOptions

    @Argument(help: "The tenant.")
    var tenant: String

    @Option(help: "Limit one model (default: the tenant's whole traffic).")
    var model = "*"

    @Option(help: "Sustained requests per second (bursts up to one second's worth).")
    var requestsPerSecond: Double?

    @Option(help: "Sustained rows (batch entries) per second.")
    var rowsPerSecond: Double?

    @Option(help: "Requests in flight at once.")
    var maxConcurrent: Int?

    @Option(help: "Share of a model's batching queue when tenants compete (default 1).")
    var weight = 1.0

    @Flag(help: "Remove the limit instead.")
    var remove = false

    func run() throws {
        try runRegistry {
            let store = try options.open()
            if remove {
                try store.removeQuota(tenant: tenant, model: model)
                try store.audit(AuditEntry(keyID: nil, tenant: tenant, role: nil, action: "tenants quota remove", target: model, status: 0, source: "cli"))
                return print("removed the quota of \(tenant) on \(model)")
            }
            for (name, v) in [("--requests-per-second", requestsPerSecond), ("--rows-per-second", rowsPerSecond)] {
                if let v, !(v.isFinite && v > 0) { throw RegistryError.badInput("\(name) must be a positive number") }
            }
            if let maxConcurrent, maxConcurrent <= 0 { throw RegistryError.badInput("--max-concurrent must be positive") }
            guard weight.isFinite, weight > 0 else { throw RegistryError.badInput("--weight must be a positive number") }
            let q = TenantQuota(tenant: tenant, model: model, requestsPerSecond: requestsPerSecond, rowsPerSecond: rowsPerSecond,
                                maxConcurrent: maxConcurrent, weight: weight)
            try store.setQuota(q)
            try store.audit(AuditEntry(keyID: nil, tenant: tenant, role: nil, action: "tenants quota set", target: model, status: 0, source: "cli"))
            if options.json { try printJSON(q) } else { print(TenantsList.line(q)) }
        }
    }
}

struct TenantsList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Every quota, one a line.")

    @OptionGroup var options: RegistryOptions

    func run() throws {
        try runRegistry {
            let quotas = try options.open().quotas()
            if options.json { return try printJSON(quotas) }
            for q in quotas { print(Self.line(q)) }
        }
    }

    static func line(_ q: TenantQuota) -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%g", $0) } ?? "-" }
        return "\(q.tenant)  model=\(q.model)  requests/s=\(f(q.requestsPerSecond))  rows/s=\(f(q.rowsPerSecond))  "
            + "concurrent=\(q.maxConcurrent.map(String.init) ?? "-")  weight=\(f(q.weight))"
    }
}

struct TenantsAssign: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "assign", abstract: "Make a tenant the owner of a registry model.")

    @OptionGroup var options: RegistryOptions

    @Argument(help: "The model.")
    var model: String

    @Option(help: "The new owner.")
    var tenant: String

    func run() throws {
        try runRegistry {
            let store = try options.open()
            try store.setOwner(model: model, tenant: tenant)
            try store.audit(AuditEntry(keyID: nil, tenant: tenant, role: nil, action: "tenants assign", target: model, status: 0, source: "cli"))
            print("\(model) now belongs to \(tenant)")
        }
    }
}
