import Foundation
import GRDB

/// Artifact signatures in the registry database.
extension SQLiteRegistry {
    public func setArtifactSignature(_ model: String, _ version: Int, _ signature: ArtifactSignature, change: Change) throws -> VersionRecord {
        try write { db in
            let id = try requireModel(db, model)
            try db.execute(sql: "UPDATE version SET artifact_signature = ? WHERE model_id = ? AND version = ?",
                           arguments: [signature.text, id, version])
            guard db.changesCount > 0 else { throw RegistryError.versionNotFound(model: model, version: version) }
            var why = change
            if why.reason.isEmpty { why.reason = "signed by key \(signature.keyID)" }
            _ = try recordChange(db, id, model, .sign, alias: nil, from: nil, to: version, change: why)
        }
        return try self.version(model, .number(version))
    }
}
