import ArgumentParser
import BerthGate
import BerthRegistry
import Foundation

/// `berth registry alias`.
struct RegistryAlias: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "alias", abstract: "Point an alias at a version (or remove it with --remove).")
    @OptionGroup var options: RegistryOptions
    @OptionGroup var changeOptions: ChangeOptions
    @Argument(help: "The model name.") var name: String
    @Argument(help: "The alias, e.g. staging.") var alias: String
    @Argument(help: "The version number.") var version: Int?
    @Flag(help: "Remove the alias instead.") var remove = false

    func validate() throws {
        guard remove == (version == nil) else { throw ValidationError("give a VERSION, or --remove without one") }
    }

    func run() throws {
        try runRegistry {
            let registry = try options.open()
            let e = remove ? try registry.removeAlias(name, alias, change: changeOptions.change)
                           : try registry.setAlias(name, alias, version: version!, change: changeOptions.change)
            if options.json { try printJSON(e) } else { print(describe(e)) }
        }
    }
}

/// `berth registry promote`.
struct RegistryPromote: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote", abstract: "Move production (or --alias) to a version whose metrics pass the gates.",
        discussion: "A running `berth serve --registry` on the same data directory picks the change up within its poll interval.")
    @OptionGroup var options: RegistryOptions
    @OptionGroup var changeOptions: ChangeOptions
    @Argument(help: "The model name.") var name: String
    @Argument(help: "The version number.") var version: Int
    @Option(name: .customLong("gate"), help: ArgumentHelp("A gate such as 'accuracy>=0.9' on the version's recorded metrics (repeatable).", valueName: "expression"))
    var gates: [String] = []
    @Option(help: "The alias to move.") var alias = "production"

    func run() throws {
        try runRegistry {
            let parsed: [Gate]
            do { parsed = try gates.map(Gate.init(expression:)) } catch { throw RegistryError.badInput("\(error)") }
            let e = try options.open().promote(name, version: version, gates: parsed, alias: alias, change: changeOptions.change)
            if options.json { try printJSON(e) } else { print(describe(e)) }
        }
    }
}

/// `berth registry rollback`.
struct RegistryRollback: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Move production (or --alias) back to the version before the current one.")
    @OptionGroup var options: RegistryOptions
    @OptionGroup var changeOptions: ChangeOptions
    @Argument(help: "The model name.") var name: String
    @Option(help: "The alias to move back.") var alias = "production"

    func run() throws {
        try runRegistry {
            let e = try options.open().rollback(name, alias: alias, change: changeOptions.change)
            if options.json { try printJSON(e) } else { print(describe(e)) }
        }
    }
}

/// `berth registry history`.
struct RegistryHistory: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Show a model's history, oldest first.")
    @OptionGroup var options: RegistryOptions
    @Argument(help: "The model name.") var name: String
    @Option(help: "Only this alias's entries.") var alias: String?

    func run() throws {
        try runRegistry {
            let events = try options.open().history(name, alias: alias)
            if options.json { try printJSON(EventList(events: events)); return }
            for e in events { print("\(e.id)  \(formatTime(e.at))  \(e.actor)  \(describe(e))\(e.reason.isEmpty ? "" : "  — \(e.reason)")") }
        }
    }
}

/// `berth registry traffic`.
struct RegistryTraffic: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traffic", abstract: "Show or set the canary and shadow split of a model.",
        discussion: "--canary candidate=10 sends 10 % of requests to the version aliased 'candidate'; --shadow shadow=100 mirrors every request to 'shadow' and only records how its answers compare.")
    @OptionGroup var options: RegistryOptions
    @OptionGroup var changeOptions: ChangeOptions
    @Argument(help: "The model name.") var name: String
    @Option(help: ArgumentHelp("ALIAS=PERCENT answered by the alias's version.", valueName: "alias=percent")) var canary: String?
    @Option(help: ArgumentHelp("ALIAS=PERCENT mirrored to the alias's version.", valueName: "alias=percent")) var shadow: String?
    @Flag(help: "Remove both splits.") var clear = false

    func run() throws {
        try runRegistry {
            let registry = try options.open()
            var policy = try registry.traffic(name)
            if clear || canary != nil || shadow != nil {
                if clear { policy = TrafficPolicy(model: name) }
                if let canary { policy.canary = try split(canary, "--canary") }
                if let shadow { policy.shadow = try split(shadow, "--shadow") }
                policy = try registry.setTraffic(name, policy, change: changeOptions.change)
            }
            if options.json { try printJSON(policy); return }
            for (kind, s) in [("canary", policy.canary), ("shadow", policy.shadow)] {
                if let s { print("\(kind): \(s.alias) (\(s.version.map { "version \($0)" } ?? "unset")) \(s.percent)%") } else { print("\(kind): none") }
            }
        }
    }

    private func split(_ text: String, _ option: String) throws -> TrafficPolicy.Split {
        guard let (alias, value) = try parsePairs([text], what: option).first, let percent = Double(value) else {
            throw RegistryError.badInput("\(option) '\(text)' must look like ALIAS=PERCENT")
        }
        return TrafficPolicy.Split(alias: alias, percent: percent)
    }
}

/// One line describing a history entry.
func describe(_ e: RegistryEvent) -> String {
    func v(_ n: Int?) -> String { n.map { "v\($0)" } ?? "none" }
    switch e.action {
    case .push: return "push \(e.model) \(v(e.to))"
    case .delete: return "delete \(e.model) \(v(e.from))"
    case .traffic: return "traffic \(e.model)"
    case .sign: return "sign \(e.model) \(v(e.to))"
    case .alias, .unalias, .promote, .rollback:
        return "\(e.action.rawValue) \(e.model) \(e.alias ?? ""): \(v(e.from)) → \(v(e.to))"
    }
}
