import BerthRegistry
import Foundation
import JWTKit

/// Verifies bearer JWTs issued by an identity provider (`berth serve --jwt-key`), carrying the
/// same claims as an API key: `tenant`, `role` and optionally `models` (a pattern as in
/// `berth keys create --models`). `exp` is required; `iss` and `aud` are checked when configured.
/// The key file is an HS256 secret (≥ 32 bytes) or a PEM public key (ES256, EdDSA or RS256).
public final class JWTVerifier: Sendable {
    private let keys: JWTKeyCollection
    private let issuer: String?
    private let audience: String?

    private init(keys: JWTKeyCollection, issuer: String?, audience: String?) {
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
    }

    /// A verifier over the key in `keyFile`; throws with the reason when the file is unusable.
    public static func load(keyFile: String, issuer: String?, audience: String?) async throws -> JWTVerifier {
        guard let data = FileManager.default.contents(atPath: keyFile) else { throw JWTSetupError("cannot read the JWT key file \(keyFile)") }
        let keys = JWTKeyCollection()
        let text = String(decoding: data, as: UTF8.self)
        if text.contains("-----BEGIN") {
            if let k = try? ES256PublicKey(pem: text) {
                await keys.add(ecdsa: k)
            } else if let k = try? EdDSA.PublicKey(pem: text) {
                await keys.add(eddsa: k)
            } else if let k = try? Insecure.RSA.PublicKey(pem: text) {
                await keys.add(rsa: k, digestAlgorithm: .sha256)
            } else {
                throw JWTSetupError("\(keyFile): not an ES256, EdDSA or RS256 public key in PEM")
            }
        } else {
            let secret = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
            guard secret.count >= 32 else { throw JWTSetupError("\(keyFile): an HS256 secret needs at least 32 bytes, got \(secret.count)") }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        return JWTVerifier(keys: keys, issuer: issuer, audience: audience)
    }

    /// The caller a token names; nil when it is not a valid token for this server (the reason is thrown).
    func principal(for token: String) async throws -> Principal {
        let claims: BerthClaims
        do { claims = try await keys.verify(token, as: BerthClaims.self) } catch {
            throw AccessControl.Failure.invalidToken("\(error)")
        }
        if let issuer, claims.iss?.value != issuer { throw AccessControl.Failure.invalidToken("issuer is not '\(issuer)'") }
        if let audience {
            do { try claims.aud?.verifyIntendedAudience(includes: audience) ?? { throw AccessControl.Failure.invalidToken("no audience") }() } catch {
                throw AccessControl.Failure.invalidToken("audience does not include '\(audience)'")
            }
        }
        guard let role = Role(rawValue: claims.role) else { throw AccessControl.Failure.invalidToken("unknown role '\(claims.role)'") }
        do { try checkTenantName(claims.tenant) } catch { throw AccessControl.Failure.invalidToken("\(error)") }
        let models: ModelPattern
        do { models = try claims.models.map { try ModelPattern($0) } ?? .all } catch { throw AccessControl.Failure.invalidToken("\(error)") }
        return Principal(keyID: "jwt:\(claims.sub?.value ?? "?")", tenant: claims.tenant, role: role, models: models)
    }

    struct BerthClaims: JWTPayload {
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var sub: SubjectClaim?
        var tenant: String
        var role: String
        var models: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            try nbf?.verifyNotBefore()
        }
    }
}

/// A JWT key file that cannot be used.
public struct JWTSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
