import BerthRegistry
import Foundation

extension ModelConfig {
    /// Checks serving-configuration JSON (the fields of a repository's config.json) before a
    /// registry records it: a configuration the server could not use is refused at push time.
    public static func validatedNode(_ data: Data) throws -> JSONNode {
        let node = try JSONNode(json: data)
        guard case .object = node else { throw RegistryError.badInput("the serving configuration must be a JSON object") }
        do { _ = try ModelConfig(json: data) } catch {
            throw RegistryError.badInput("invalid serving configuration: \(error)")
        }
        return node
    }
}
