import Foundation

/// A Triton-style model repository on disk:
///
/// ```
/// REPO/<model>/config.json            optional, see ``ModelConfig``
/// REPO/<model>/config.pbtxt           or Triton's (``ModelConfig/init(pbtxt:model:directory:)``)
/// REPO/<model>/<version>/model.onnx   version: a positive integer; external data files sit beside it
/// ```
/// An ensemble (`platform: "ensemble"` in config.pbtxt) has empty version folders.
/// The repository only reads the file system; ``ModelManager`` decides what to load.
public struct ModelRepository: Sendable {
    /// The repository's root folder.
    public let root: URL

    /// The file every version folder must contain.
    public static let modelFileName = "model.onnx"

    public init(root: URL) { self.root = root.standardizedFileURL }

    /// The names of the models in the repository (folders holding at least one version folder or
    /// a config.json), sorted.
    public func modelNames() -> [String] {
        let fm = FileManager.default
        guard let items = try? fm.contentsOfDirectory(atPath: root.path) else { return [] }
        return items.filter { name in
            guard !name.hasPrefix("."), isDirectory(root.appendingPathComponent(name)) else { return false }
            return true
        }.sorted()
    }

    /// True when `name` is a model folder in the repository.
    public func contains(model name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && !name.hasPrefix(".") && isDirectory(root.appendingPathComponent(name))
    }

    /// The version numbers of `model` that have a model file (an ensemble: every version
    /// folder), ascending.
    public func versions(of model: String) -> [Int] {
        let dir = root.appendingPathComponent(model)
        guard let items = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        let folders = items.compactMap { item -> Int? in
            guard let v = Int(item), v > 0, String(v) == item else { return nil }
            return v
        }.sorted()
        let withFile = folders.filter { FileManager.default.fileExists(atPath: modelFile(model: model, version: $0).path) }
        if withFile.isEmpty, !folders.isEmpty, (try? config(of: model))?.ensemble != nil { return folders }
        return withFile
    }

    /// The model file of one version.
    public func modelFile(model: String, version: Int) -> URL {
        root.appendingPathComponent(model).appendingPathComponent(String(version)).appendingPathComponent(Self.modelFileName)
    }

    /// The model's config: its config.pbtxt (Triton's) or config.json; defaults when it has neither.
    public func config(of model: String) throws -> ModelConfig {
        let dir = root.appendingPathComponent(model)
        let url = dir.appendingPathComponent("config.json")
        let pbtxt = dir.appendingPathComponent(Self.pbtxtFileName)
        let fm = FileManager.default
        if fm.fileExists(atPath: pbtxt.path) {
            guard !fm.fileExists(atPath: url.path) else {
                throw ServerError.loadFailed(model: model, reason: "both config.pbtxt and config.json are present; keep one")
            }
            do {
                return try ModelConfig(pbtxt: String(contentsOf: pbtxt, encoding: .utf8), model: model, directory: dir)
            } catch let e as ServerError {
                throw ServerError.loadFailed(model: model, reason: e.description)
            } catch {
                throw ServerError.loadFailed(model: model, reason: "cannot read config.pbtxt: \(error.localizedDescription)")
            }
        }
        guard fm.fileExists(atPath: url.path) else { return ModelConfig() }
        do {
            return try ModelConfig(json: Data(contentsOf: url))
        } catch let e as ServerError {
            throw ServerError.loadFailed(model: model, reason: e.description)
        } catch {
            throw ServerError.loadFailed(model: model, reason: "cannot read config.json: \(error.localizedDescription)")
        }
    }

    /// Triton's configuration file name.
    public static let pbtxtFileName = "config.pbtxt"

    /// A summary of every file of a version folder (names, sizes, modification times) plus the
    /// model's config files, label files and warm-up files, and for an ensemble its steps' files;
    /// equal fingerprints on two polls mean nothing is being written.
    public func fingerprint(model: String, version: Int) -> String {
        fingerprint(model: model, version: version, depth: 0)
    }

    private func fingerprint(model: String, version: Int, depth: Int) -> String {
        let dir = root.appendingPathComponent(model).appendingPathComponent(String(version))
        var parts: [String] = []
        let fm = FileManager.default
        if let items = try? fm.contentsOfDirectory(atPath: dir.path) {
            for item in items.sorted() {
                parts.append(item + ":" + Self.stat(dir.appendingPathComponent(item).path))
            }
        }
        let modelDir = root.appendingPathComponent(model)
        parts.append("config:" + Self.stat(modelDir.appendingPathComponent("config.json").path))
        parts.append("pbtxt:" + Self.stat(modelDir.appendingPathComponent(Self.pbtxtFileName).path))
        for sub in ["warmup"] {
            for item in ((try? fm.contentsOfDirectory(atPath: modelDir.appendingPathComponent(sub).path)) ?? []).sorted() {
                parts.append("\(sub)/\(item):" + Self.stat(modelDir.appendingPathComponent(sub).appendingPathComponent(item).path))
            }
        }
        if let config = try? config(of: model) {
            for o in config.outputs { if let f = o.labelFile { parts.append("labels:" + Self.stat(f.path)) } }
            // An ensemble is rebuilt when a step's files change (nesting is bounded: cycles fail at load).
            for step in config.ensemble ?? [] where depth < 8 {
                let v = step.version > 0 ? step.version : (versions(of: step.model).last ?? 0)
                parts.append("step:\(step.model)/\(v)[" + fingerprint(model: step.model, version: v, depth: depth + 1) + "]")
            }
        }
        return parts.joined(separator: "|")
    }

    private static func stat(_ path: String) -> String {
        guard let a = try? FileManager.default.attributesOfItem(atPath: path) else { return "-" }
        let size = (a[.size] as? NSNumber)?.int64Value ?? -1
        let mtime = (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(size)@\(mtime)"
    }

    private func isDirectory(_ url: URL) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &dir) && dir.boolValue
    }
}
