import ArgumentParser
import BerthMonitor
import BerthRegistry
import BerthServer
import Foundation

/// `berth registry push`.
struct RegistryPush: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push", abstract: "Record a model file as the next version of NAME.")

    @OptionGroup var options: RegistryOptions
    @OptionGroup var changeOptions: ChangeOptions

    @Argument(help: "The model name.") var name: String
    @Argument(help: "The .onnx file (self-contained: no external data).") var file: String

    @Option(help: ArgumentHelp("`berth eval --json` output (or a JSON object of numbers) to record.", valueName: "file.json"))
    var metrics: String?
    @Option(help: ArgumentHelp("A label, as KEY=VALUE (repeatable).", valueName: "k=v")) var tag: [String] = []
    @Option(help: ArgumentHelp("A training parameter, as KEY=VALUE (repeatable).", valueName: "k=v")) var param: [String] = []
    @Option(help: "The version this one was derived from.") var parent: Int?
    @Option(help: ArgumentHelp("The training data; its SHA-256 is recorded.", valueName: "file")) var trainingData: String?
    @Option(help: "A digest of the training data, recorded as given.") var trainingDataDigest: String?
    @Option(help: "Sets the model's description.") var description: String?
    @Flag(help: "Accept inputs/outputs that differ from the production version's.") var allowSignatureChange = false
    @Option(help: ArgumentHelp("How to serve it: a config.json as in a model repository (max_batch_size, dynamic_batching, instance_count, threads).",
                               valueName: "config.json"))
    var config: String?
    @Option(help: ArgumentHelp("A reference sample (CSV, columns as berth eval reads them) that live traffic is compared with for drift and label-free estimates.",
                               valueName: "ref.csv"))
    var referenceData: String?
    @Option(help: ArgumentHelp("With --reference-data: its label column (kept for performance estimation, not a feature).", valueName: "column"))
    var label: String?
    @Option(help: ArgumentHelp("Sign the artifact with this Ed25519 private key (as berth registry sign does).", valueName: "file"))
    var signKey: String?

    func run() throws {
        try runRegistry {
            guard label == nil || referenceData != nil else { throw RegistryError.badInput("--label goes with --reference-data") }
            // The sample is checked before anything is recorded: a bad file pushes nothing.
            let reference = try referenceData.map { path -> [UInt8] in
                guard let data = FileManager.default.contents(atPath: path) else { throw RegistryError.badInput("cannot read \(path)") }
                _ = try ReferenceStore.check(csv: Array(data), label: label, source: path)
                return Array(data)
            }
            guard trainingData == nil || trainingDataDigest == nil else {
                throw RegistryError.badInput("give --training-data or --training-data-digest, not both")
            }
            var request = PushRequest(model: name, description: description, parent: parent,
                                      trainingDataDigest: try trainingData.map { try FileDigest.sha256(of: URL(fileURLWithPath: $0)).sha256 } ?? trainingDataDigest,
                                      allowSignatureChange: allowSignatureChange, actor: changeOptions.change.actor,
                                      reason: changeOptions.reason)
            func contents(_ path: String?) throws -> Data? {
                guard let path else { return nil }
                guard let data = FileManager.default.contents(atPath: path) else { throw RegistryError.badInput("cannot read \(path)") }
                return data
            }
            try request.apply(tags: tag, params: param, metricsJSON: try contents(metrics), configJSON: try contents(config))
            if let signKey {
                let key = try readSigningKey(signKey)
                let digest = try FileDigest.sha256(of: URL(fileURLWithPath: file)).sha256
                request.artifactSignature = try ArtifactSignature.sign(sha256: digest, with: key)
            }
            let registry = try options.open()
            let record = try registry.push(file: URL(fileURLWithPath: file), request)
            if let reference {
                // Beside the registry: its PostgreSQL database (every replica reads it there), else the data directory.
                let store: any ReferenceSampleStore = (registry as? PostgresRegistry).map { SharedMonitorState(url: $0.url, replica: "").references }
                    ?? ReferenceStore(dataDirectory: options.directory)
                try store.put(model: record.model, version: String(record.version), csv: reference, label: label)
            }
            if options.json { try printJSON(record) } else { print("\(record.model) version \(record.version) (sha256 \(record.sha256.prefix(12)))") }
        }
    }
}

/// `berth registry list`.
struct RegistryList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List models with their latest version and aliases.")
    @OptionGroup var options: RegistryOptions

    func run() throws {
        try runRegistry {
            let models = try options.open().models()
            if options.json { try printJSON(ModelList(models: models)); return }
            if models.isEmpty { print("(no models)"); return }
            print("MODEL".padding(toLength: 24, withPad: " ", startingAt: 0) + " LATEST  ALIASES")
            for m in models {
                let aliases = m.aliases.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                print(m.name.padding(toLength: 24, withPad: " ", startingAt: 0) + " "
                      + (m.latestVersion.map(String.init) ?? "-").padding(toLength: 7, withPad: " ", startingAt: 0) + " " + aliases)
            }
        }
    }
}

/// `berth registry show`.
struct RegistryShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a model and its versions, or one version (NAME@VERSION or NAME@ALIAS).")
    @OptionGroup var options: RegistryOptions
    @Argument(help: "NAME, NAME@VERSION or NAME@ALIAS.") var reference: String

    func run() throws {
        try runRegistry {
            let registry = try options.open()
            let (name, ref) = VersionRef.parse(reference)
            if let ref {
                let v = try registry.version(name, ref)
                if options.json { try printJSON(v) } else { printVersion(v) }
                return
            }
            let view = ModelDetail(model: try registry.model(name), versions: try registry.versions(of: name), traffic: try registry.traffic(name))
            if options.json { try printJSON(view); return }
            print("\(view.model.name)\(view.model.description.isEmpty ? "" : " — \(view.model.description)")")
            for v in view.versions {
                let aliases = v.aliases.isEmpty ? "" : "  [\(v.aliases.joined(separator: ", "))]"
                let metrics = v.metrics.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                print("  v\(v.version)  \(v.sha256.prefix(12))  \(v.size) B  \(formatTime(v.createdAt))  \(v.createdBy)  \(metrics)\(aliases)")
            }
            if let c = view.traffic.canary { print("  canary: \(c.alias) (\(c.version.map { "v\($0)" } ?? "unset")) \(c.percent)%") }
            if let s = view.traffic.shadow { print("  shadow: \(s.alias) (\(s.version.map { "v\($0)" } ?? "unset")) \(s.percent)%") }
        }
    }

    private func printVersion(_ v: VersionRecord) {
        print("\(v.model) version \(v.version)\(v.aliases.isEmpty ? "" : " [\(v.aliases.joined(separator: ", "))]")")
        print("  sha256:   \(v.sha256)")
        print("  size:     \(v.size) bytes")
        print("  created:  \(formatTime(v.createdAt)) by \(v.createdBy)")
        for i in v.signature.inputs { print("  input:    \(i.name) \(i.datatype) \(i.shape)") }
        for o in v.signature.outputs { print("  output:   \(o.name) \(o.datatype) \(o.shape)") }
        if let l = v.signature.llm {
            print("  llm:      \(l.architecture), \(l.parameterCount) parameters, context \(l.contextLength), vocabulary \(l.vocabularySize), \(l.quantization.joined(separator: "/"))")
        }
        for (k, m) in v.metrics.sorted(by: { $0.key < $1.key }) { print("  metric:   \(k) = \(m)") }
        if let p = v.parent { print("  parent:   \(p)") }
        if let d = v.trainingDataDigest { print("  data:     \(d)") }
        for (k, p) in v.params.sorted(by: { $0.key < $1.key }) { print("  param:    \(k) = \(p)") }
        for (k, t) in v.tags.sorted(by: { $0.key < $1.key }) { print("  tag:      \(k) = \(t)") }
        if let c = v.servingConfig { print("  serving:  \(String(decoding: c.jsonData, as: UTF8.self))") }
    }
}

/// `berth registry delete`.
struct RegistryDelete: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a version no alias points at.")
    @OptionGroup var options: RegistryOptions
    @OptionGroup var changeOptions: ChangeOptions
    @Argument(help: "The model name.") var name: String
    @Argument(help: "The version number.") var version: Int

    func run() throws {
        try runRegistry {
            let e = try options.open().deleteVersion(name, version, change: changeOptions.change)
            if options.json { try printJSON(e) } else { print("deleted \(name) version \(version)") }
        }
    }
}

/// `berth registry pull`.
struct RegistryPull: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Write a version's verified model file (default: production).")
    @OptionGroup var options: RegistryOptions
    @Argument(help: "NAME, NAME@VERSION or NAME@ALIAS.") var reference: String
    @Argument(help: "Where to write the .onnx file.") var file: String

    func run() throws {
        try runRegistry {
            let (name, ref) = try parseReference(reference, default: .alias("production"))
            let registry = try options.open()
            let (record, source) = try registry.artifact(name, ref)
            defer { registry.store.release(source) }
            let target = URL(fileURLWithPath: file)
            let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).\(getpid()).part")
            let fm = FileManager.default
            do {
                try? fm.removeItem(at: temporary)
                try fm.copyItem(at: source, to: temporary)
                if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
                try fm.moveItem(at: temporary, to: target)
            } catch {
                try? fm.removeItem(at: temporary)
                throw RegistryError.badInput("cannot write \(file): \(error.localizedDescription)")
            }
            if options.json { try printJSON(record) } else { print("\(name) version \(record.version) → \(file)") }
        }
    }
}
