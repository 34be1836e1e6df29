import ArgumentParser
import BerthRegistry
import Foundation

/// `berth registry migrate`: brings the registry's schema up to date and lists the migrations.
/// Every command migrates on open too; this one lets a deployment do it once, before replicas start.
struct RegistryMigrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the registry's pending schema migrations (idempotent) and list those applied."
    )
    @OptionGroup var options: RegistryOptions

    func run() throws {
        try runRegistry {
            let url = RegistryBackend.url(options.registryUrl)
            let cipher = try artifactCipher(file: options.artifactKey)
            let applied: [String], all: [String]
            if let url {
                let registry = try PostgresRegistry(url: try PostgresURL(url), dataDirectory: options.directory, cipher: cipher, migrate: false)
                defer { registry.close() }
                applied = try registry.runMigrations()
                all = try registry.appliedMigrations()
            } else {
                let registry = try SQLiteRegistry(dataDirectory: options.directory, cipher: cipher)
                applied = []
                all = try registry.appliedMigrations()
            }
            if options.json {
                try printJSON(["applied_now": applied, "migrations": all])
            } else {
                for m in all { print("\(applied.contains(m) ? "applied " : "present ") \(m)") }
            }
        }
    }
}
