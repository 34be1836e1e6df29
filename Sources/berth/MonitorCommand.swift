import ArgumentParser

/// `berth monitor`: offline monitoring of a model's data and performance.
struct MonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Monitor a model: estimate its performance without labels; export the prediction log.",
        subcommands: [MonitorEstimateCommand.self, MonitorLogCommand.self]
    )
}
