import Foundation
import NIOCertificateReloading
import NIOSSL

/// The TLS files a server is started with (`--tls-cert`, `--tls-key`, `--tls-client-ca`).
public struct TLSFiles: Sendable, Equatable {
    /// PEM certificate chain, leaf first.
    public var certificate: String
    /// PEM private key of the leaf.
    public var key: String
    /// PEM CA bundle: when set, clients must present a certificate it signed (mTLS).
    public var clientCA: String?

    public init(certificate: String, key: String, clientCA: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.clientCA = clientCA
    }
}

/// Hands every new TLS handshake the certificate and key last read from disk, and re-reads them on
/// ``reload()`` (the server calls it on SIGHUP): a renewed certificate takes effect for new
/// connections without a restart, and a bad file is refused while the old pair keeps serving.
/// The REST and gRPC listeners share one reloader.
public final class FileCertificateReloader: CertificateReloader, @unchecked Sendable {
    public let files: TLSFiles
    private let lock = NSLock()
    private var current: NIOSSLContextConfigurationOverride

    /// Reads the files once; throws when they are missing, not PEM, or do not match.
    public init(_ files: TLSFiles) throws {
        self.files = files
        current = try Self.read(files)
    }

    public var sslContextConfigurationOverride: NIOSSLContextConfigurationOverride {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// Re-reads the certificate and key; on failure throws and keeps the previous pair.
    public func reload() throws {
        let next = try Self.read(files)
        lock.lock()
        current = next
        lock.unlock()
    }

    /// The server configuration: TLS 1.2 or later, with client certificates required when a CA is set.
    public func serverConfiguration() throws -> TLSConfiguration {
        var c: TLSConfiguration
        if let ca = files.clientCA {
            let roots: [NIOSSLCertificate]
            do { roots = try NIOSSLCertificate.fromPEMFile(ca) } catch { throw TLSSetupError("cannot read the client CA \(ca): \(error)") }
            c = try TLSConfiguration.makeServerConfigurationWithMTLS(certificateReloader: self, trustRoots: .certificates(roots))
        } else {
            c = try TLSConfiguration.makeServerConfiguration(certificateReloader: self)
        }
        c.minimumTLSVersion = .tlsv12
        return c
    }

    private static func read(_ files: TLSFiles) throws -> NIOSSLContextConfigurationOverride {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(files.certificate) } catch {
            throw TLSSetupError("cannot read the certificate \(files.certificate): \(error)")
        }
        guard !chain.isEmpty else { throw TLSSetupError("\(files.certificate) holds no certificate") }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: files.key, format: .pem) } catch {
            throw TLSSetupError("cannot read the private key \(files.key): \(error)")
        }
        // A key that does not match the certificate would fail every handshake: refuse it now.
        do {
            var probe = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            probe.minimumTLSVersion = .tlsv12
            _ = try NIOSSLContext(configuration: probe)
        } catch {
            throw TLSSetupError("\(files.key) does not match \(files.certificate): \(error)")
        }
        var o = NIOSSLContextConfigurationOverride()
        o.certificateChain = chain.map { .certificate($0) }
        o.privateKey = .privateKey(key)
        return o
    }
}

/// A TLS file that cannot be used, with the file and the reason.
public struct TLSSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
