import Dispatch
import Foundation
import Logging
import ServiceLifecycle

/// Re-reads the TLS certificate and key on SIGHUP (what a certificate manager or `kill -HUP`
/// sends after a renewal). A failed reload is logged and the previous pair keeps serving.
struct CertificateReloadService: Service {
    let reloader: FileCertificateReloader
    let logger: Logger

    func run() async throws {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "berth.tls.reload"))
        let reloader = self.reloader, logger = self.logger
        source.setEventHandler {
            do {
                try reloader.reload()
                logger.notice("TLS certificate reloaded", metadata: ["certificate": "\(reloader.files.certificate)"])
            } catch {
                logger.error("TLS certificate reload failed; the previous certificate keeps serving", metadata: ["error": "\(error)"])
            }
        }
        source.resume()
        try? await gracefulShutdown()
        source.cancel()
    }
}
