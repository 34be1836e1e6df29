import BerthProtocol
import ArgumentParser
import BerthRegistry
import Foundation

/// `berth registry`: the model registry in a data directory (see docs/registry.md).
struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Record model versions, move aliases (promote, rollback) and read the history.",
        discussion: """
            The registry lives in --data-dir (default ./berth-data, or $BERTH_DATA_DIR): an SQLite database \
            and a content-addressed artifact store; `berth serve --registry` serves it. With --registry-url \
            (or $BERTH_REGISTRY_URL) the database is PostgreSQL, shared by replicas (docs/deploy.md). \
            Exit status: 0 on success, 1 when a gate refuses a promotion, 2 on bad input or a refused change.
            """,
        subcommands: [RegistryPush.self, RegistryList.self, RegistryShow.self, RegistryAlias.self, RegistryPromote.self,
                      RegistryRollback.self, RegistryHistory.self, RegistryDelete.self, RegistryPull.self, RegistryTraffic.self,
                      RegistryKeygen.self, RegistrySign.self, RegistryVerify.self, RegistryMigrate.self]
    )
}

/// Options every registry command takes.
struct RegistryOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The registry's data directory (default: $BERTH_DATA_DIR or ./berth-data).", valueName: "dir"))
    var dataDir: String?

    @Option(help: ArgumentHelp("The registry's PostgreSQL database, shared by replicas (default: $BERTH_REGISTRY_URL; none: SQLite in --data-dir, which holds the artifacts either way).", valueName: "postgres://user:pass@host:port/db"))
    var registryUrl: String?

    @Flag(help: "Print records as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Encrypt new artifacts at rest and read encrypted ones with this AES-256 key (32 bytes: raw, base64 or hex; default: $BERTH_ARTIFACT_KEY).", valueName: "file"))
    var artifactKey: String?

    /// The data directory.
    var directory: URL { URL(fileURLWithPath: dataDir ?? ProcessInfo.processInfo.environment["BERTH_DATA_DIR"] ?? "berth-data") }

    /// Opens the registry.
    func open() throws -> any RegistryStore {
        try RegistryBackend.open(url: RegistryBackend.url(registryUrl), dataDirectory: directory, cipher: try artifactCipher(file: artifactKey))
    }
}

/// The artifact cipher of `--artifact-key FILE`, else of `$BERTH_ARTIFACT_KEY` (the key itself,
/// base64 or hex); nil when neither is set.
func artifactCipher(file: String?) throws -> ArtifactCipher? {
    if let file {
        guard let data = FileManager.default.contents(atPath: file) else { throw RegistryError.badInput("cannot read the artifact key \(file)") }
        return try ArtifactCipher(text: data)
    }
    guard let env = ProcessInfo.processInfo.environment["BERTH_ARTIFACT_KEY"], !env.isEmpty else { return nil }
    return try ArtifactCipher(text: Data(env.utf8))
}

/// Who makes a change and why.
struct ChangeOptions: ParsableArguments {
    @Option(help: "Who makes the change (default: $USER).")
    var by: String?

    @Option(help: "Why, for the history.")
    var reason = ""

    var change: Change {
        Change(actor: by ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName(), reason: reason)
    }
}

/// Runs a registry command body, printing errors the way every registry command does: a
/// refused gate exits 1, anything else the user can fix exits 2.
func runRegistry(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as RegistryError {
        FileHandle.standardError.write(Data("Error: \(e)\n".utf8))
        if case .gateFailed = e { throw ExitCode(1) }
        throw ExitCode(2)
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

/// Prints a record as pretty JSON.
func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try CodableJSON.encode(value, pretty: true), as: UTF8.self))
}

/// `2026-11-26 10:00:00` in UTC.
func formatTime(_ date: Date) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyy-MM-dd HH:mm:ss"
    return f.string(from: date)
}

/// Parses `NAME` or `NAME@REF`, requiring a ref when `default` is nil.
func parseReference(_ text: String, default defaultRef: VersionRef?) throws -> (String, VersionRef) {
    let (model, ref) = VersionRef.parse(text, default: defaultRef)
    guard let ref else { throw RegistryError.badInput("'\(text)' names no version: write NAME@VERSION or NAME@ALIAS") }
    return (model, ref)
}
