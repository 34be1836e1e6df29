import ArgumentParser

/// `berth monitor`: offline monitoring of a model's data and performance.
struct MonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Monitor a model offline: estimate its performance on data without labels.",
        subcommands: [MonitorEstimateCommand.self]
    )
}
