import ArgumentParser

/// The `berth` command: run, serve and maintain ONNX models.
@main
struct Berth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Run, serve and maintain ONNX models.",
        subcommands: [InspectCommand.self, RunCommand.self, PerfCommand.self, ServeCommand.self, BenchCommand.self, EvalCommand.self,
                      RegistryCommand.self]
    )
}
