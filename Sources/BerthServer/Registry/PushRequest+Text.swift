import BerthRegistry
import Foundation

extension PushRequest {
    /// Fills the fields that `berth registry push` and the admin API both receive as text:
    /// `KEY=VALUE` tags and params, the metrics JSON (`berth eval --json` output or an object of
    /// numbers) and the serving configuration (a repository's config.json fields), which is
    /// checked here so that a configuration the server could not use is refused at push time.
    public mutating func apply(tags: [String], params: [String], metricsJSON: Data?, configJSON: Data?) throws {
        self.tags = try Self.keyValues(tags, "tag")
        self.params = try Self.keyValues(params, "param")
        if let metricsJSON { metrics = try MetricsFile.parse(metricsJSON) }
        if let configJSON {
            let node = try JSONNode(json: configJSON)
            guard case .object = node else { throw RegistryError.badInput("the serving configuration must be a JSON object") }
            do { _ = try ModelConfig(json: configJSON) } catch {
                throw RegistryError.badInput("invalid serving configuration: \(error)")
            }
            servingConfig = node
        }
    }

    private static func keyValues(_ items: [String], _ what: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in items {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw RegistryError.badInput("\(what) '\(item)' must look like KEY=VALUE")
            }
            out[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        return out
    }
}
