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
        if let metricsJSON {
            // Syntax first, so that a typo is reported where it is; then the two accepted shapes.
            _ = try JSONBody.decode(JSONNode.self, from: metricsJSON, what: "the metrics")
            metrics = try MetricsFile.parse(metricsJSON)
        }
        if let configJSON {
            let object = try JSONBody.decode([String: JSONNode].self, from: configJSON, what: "the serving configuration")
            do { _ = try ModelConfig(json: configJSON) } catch {
                throw RegistryError.badInput("invalid serving configuration: \(error)")
            }
            servingConfig = .object(object)
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
