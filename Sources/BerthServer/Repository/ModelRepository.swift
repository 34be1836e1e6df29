import Foundation

/// A Triton-style model repository on disk:
///
/// ```
/// REPO/<model>/config.json            optional, see ``ModelConfig``
/// REPO/<model>/<version>/model.onnx   version: a positive integer; external data files sit beside it
/// ```
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

    /// The version numbers of `model` that have a model file, ascending.
    public func versions(of model: String) -> [Int] {
        let dir = root.appendingPathComponent(model)
        guard let items = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return items.compactMap { item -> Int? in
            guard let v = Int(item), v > 0, String(v) == item else { return nil }
            return FileManager.default.fileExists(atPath: modelFile(model: model, version: v).path) ? v : nil
        }.sorted()
    }

    /// The model file of one version.
    public func modelFile(model: String, version: Int) -> URL {
        root.appendingPathComponent(model).appendingPathComponent(String(version)).appendingPathComponent(Self.modelFileName)
    }

    /// The model's config (defaults when there is no config.json).
    public func config(of model: String) throws -> ModelConfig {
        let url = root.appendingPathComponent(model).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return ModelConfig() }
        do {
            return try ModelConfig(json: Data(contentsOf: url))
        } catch let e as ServerError {
            throw ServerError.loadFailed(model: model, reason: e.description)
        } catch {
            throw ServerError.loadFailed(model: model, reason: "cannot read config.json: \(error.localizedDescription)")
        }
    }

    /// A summary of every file of a version folder (names, sizes, modification times) plus the
    /// model's config.json; equal fingerprints on two polls mean nothing is being written.
    public func fingerprint(model: String, version: Int) -> String {
        let dir = root.appendingPathComponent(model).appendingPathComponent(String(version))
        var parts: [String] = []
        let fm = FileManager.default
        if let items = try? fm.contentsOfDirectory(atPath: dir.path) {
            for item in items.sorted() {
                parts.append(item + ":" + Self.stat(dir.appendingPathComponent(item).path))
            }
        }
        parts.append("config:" + Self.stat(root.appendingPathComponent(model).appendingPathComponent("config.json").path))
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
