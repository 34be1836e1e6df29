import ArgumentParser
import BerthRegistry
import Crypto
import Foundation

/// Reads an Ed25519 key file (PEM as OpenSSL writes it, or base64), exiting 2 with the reason.
func readSigningKey(_ path: String) throws -> Curve25519.Signing.PrivateKey {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw RegistryError.badInput("cannot read the key file \(path)") }
    do { return try Ed25519Keys.privateKey(pem: text) } catch { throw RegistryError.badInput("\(path): \(error)") }
}

/// Reads an Ed25519 public key file.
func readPublicKey(_ path: String) throws -> Curve25519.Signing.PublicKey {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw RegistryError.badInput("cannot read the key file \(path)") }
    do { return try Ed25519Keys.publicKey(pem: text) } catch { throw RegistryError.badInput("\(path): \(error)") }
}

/// `berth registry keygen`: a new Ed25519 signing key pair.
struct RegistryKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new Ed25519 key pair: PREFIX.key (private, mode 600) and PREFIX.pub (give it to servers with --trusted-key).",
        discussion: "The files are PEM as OpenSSL writes them: `openssl genpkey -algorithm ed25519` makes keys Berth reads, and the reverse.")

    @Argument(help: "Path prefix of the two files.") var prefix: String

    func run() throws {
        try runRegistry {
            let key = Curve25519.Signing.PrivateKey()
            let priv = URL(fileURLWithPath: prefix + ".key"), pub = URL(fileURLWithPath: prefix + ".pub")
            for u in [priv, pub] where FileManager.default.fileExists(atPath: u.path) {
                throw RegistryError.badInput("\(u.path) exists; not overwriting a key")
            }
            guard FileManager.default.createFile(atPath: priv.path, contents: Data(Ed25519Keys.pem(key).utf8),
                                                 attributes: [.posixPermissions: 0o600]) else {
                throw RegistryError.badInput("cannot write \(priv.path)")
            }
            do { try Data(Ed25519Keys.pem(key.publicKey).utf8).write(to: pub) } catch { throw RegistryError.badInput("cannot write \(pub.path)") }
            print("key \(Ed25519Keys.keyID(key.publicKey)): \(priv.path) (private), \(pub.path) (public)")
        }
    }
}

/// `berth registry sign`: records a signature over a version's artifact digest.
struct RegistrySign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "Sign a version's artifact (Ed25519 over its SHA-256) and record the signature.")
    @OptionGroup var options: RegistryOptions
    @OptionGroup var changeOptions: ChangeOptions
    @Argument(help: "NAME@VERSION or NAME@ALIAS.") var reference: String
    @Option(help: ArgumentHelp("The private key (berth registry keygen, or openssl genpkey -algorithm ed25519).", valueName: "file"))
    var key: String

    func run() throws {
        try runRegistry {
            let signingKey = try readSigningKey(key)
            let (name, ref) = try parseReference(reference, default: nil)
            let registry = try options.open()
            // The digest is checked against the file first: a tampered artifact is never signed.
            let (record, file) = try registry.artifact(name, ref)
            registry.store.release(file)
            let signature = try ArtifactSignature.sign(sha256: record.sha256, with: signingKey)
            let signed = try registry.setArtifactSignature(name, record.version, signature, change: changeOptions.change)
            if options.json { try printJSON(signed) } else { print("\(name) version \(record.version) signed: \(signature.text)") }
        }
    }
}

/// `berth registry verify`: checks a version's artifact and its signature.
struct RegistryVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a version's artifact against its digest and its signature against trusted keys; exit 1 when either fails.")
    @OptionGroup var options: RegistryOptions
    @Argument(help: "NAME@VERSION or NAME@ALIAS.") var reference: String
    @Option(name: .customLong("public-key"), help: ArgumentHelp("A trusted public key (repeatable).", valueName: "file"))
    var publicKeys: [String] = []

    func run() throws {
        var failure: String?
        try runRegistry {
            guard !publicKeys.isEmpty else { throw RegistryError.badInput("give at least one --public-key") }
            let trust = ArtifactTrust(keys: try publicKeys.map(readPublicKey))
            let (name, ref) = try parseReference(reference, default: nil)
            let registry = try options.open()
            let record = try registry.version(name, ref)
            do {
                registry.store.release(try registry.artifact(name, .number(record.version)).url)
                try trust.check(record)
                print("\(name) version \(record.version): artifact intact, signed by trusted key \(record.artifactSignature!.keyID)")
            } catch let e as RegistryError {
                failure = "\(e)"
            }
        }
        if let failure {
            FileHandle.standardError.write(Data("Error: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }
}
