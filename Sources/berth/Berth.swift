import ArgumentParser
import BerthEngine
import BerthServer
import NIOCore
import NIOPosix

/// The `berth` command: run, serve and maintain ONNX models.
@main
struct Berth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Run, serve and maintain ONNX models.",
        version: BerthHTTPServer.version,
        subcommands: [InspectCommand.self, RunCommand.self, PerfCommand.self, ServeCommand.self, BenchCommand.self, EvalCommand.self,
                      DriftCommand.self, MonitorCommand.self,
                      RegistryCommand.self, KeysCommand.self, TenantsCommand.self, AuditCommand.self, QuantizeCommand.self, PruneCommand.self, OptimizeCommand.self]
    )

    /// Runs Swift concurrency on NIO's event loops, then the command. `serve` and `bench` gain the
    /// most (no thread hop between a socket's event loop and its async handlers, tens of µs per
    /// request on a small machine), but the executor can only be swapped on the main thread
    /// before any task runs, so it is done here, once, for every command.
    static func main() async {
        // Before any large allocation, so model weights and tensors alike follow the thresholds.
        _ = Session.allocatorConfigured
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await main(nil)
    }
}
