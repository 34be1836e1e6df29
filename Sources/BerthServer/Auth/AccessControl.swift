import BerthRegistry
import Foundation
import Logging

/// Authentication and the per-model visibility rule, shared by the REST hook
/// (``AuthMiddleware``) and the gRPC interceptor, so both decide alike. Keys are looked up in the
/// ``AccessStore`` on every request (one indexed read), so a revoked or expired key is refused at
/// once, by every process sharing the database.
public final class AccessControl: Sendable {
    /// Why a request was not authenticated (401).
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case missing, malformed, unknown, revoked, expired, noKeys, storage(String), invalidToken(String)

        public var description: String {
            switch self {
            case .missing: return "authentication required: send 'Authorization: Bearer KEY' (create a key with: berth keys create --tenant T --role R)"
            case .malformed: return "the Authorization header is not 'Bearer KEY' with a Berth key"
            case .unknown: return "unknown API key"
            case .revoked: return "this API key was revoked"
            case .expired: return "this API key has expired"
            case .noKeys:
                return "this server has no API keys yet: create the first admin key with "
                    + "'berth keys create --tenant admin --role admin --data-dir DIR' (or start with --insecure-no-auth)"
            case let .storage(why): return "cannot check the API key: \(why)"
            case let .invalidToken(why): return "the bearer token was refused: \(why)"
            }
        }
    }

    /// nil: authentication is off (`--insecure-no-auth`), everyone is ``Principal/open``.
    public let store: (any AccessStore)?
    /// Set with `--jwt-key`: bearer JWTs are accepted beside API keys.
    public let jwt: JWTVerifier?
    private let owners = Locked(OwnerCache())
    private let auditQueue = DispatchQueue(label: "berth.audit")
    private let logger: Logger

    /// Access control over `store`; nil turns authentication off.
    public init(store: (any AccessStore)?, jwt: JWTVerifier? = nil, logger: Logger = Logger(label: "berth.server.auth")) {
        self.store = store
        self.jwt = jwt
        self.logger = logger
    }

    /// What an open server says in its log and its `/v2` metadata.
    public static let openWarning = "authentication is off (--insecure-no-auth): anyone who reaches this port may infer, push, promote and load models"

    /// Whether every caller is let in.
    public var isOpen: Bool { store == nil }

    /// The caller an `Authorization` header value names.
    public func authenticate(authorization: String?) async -> Result<Principal, Failure> {
        guard let store else { return .success(.open) }
        guard let authorization, !authorization.isEmpty else {
            return .failure(jwt == nil && (try? store.hasUsableKeys()) == false ? .noKeys : .missing)
        }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .failure(.malformed) }
        let credential = parts[1].trimmingCharacters(in: .whitespaces)
        guard let secret = APIKeySecret(parsing: credential) else {
            // Not a Berth key: a JWT when the server accepts them (three base64url parts).
            guard let jwt, credential.split(separator: ".", omittingEmptySubsequences: false).count == 3 else { return .failure(.malformed) }
            do { return .success(try await jwt.principal(for: credential)) } catch let f as Failure { return .failure(f) } catch {
                return .failure(.invalidToken("\(error)"))
            }
        }
        let record: APIKeyRecord?
        do { record = try cachedKey(secret, store) } catch { return .failure(.storage("\(error)")) }
        guard let record else { return .failure(.unknown) }
        if record.revokedAt != nil { return .failure(.revoked) }
        if let e = record.expiresAt, e <= Date() { return .failure(.expired) }
        return .success(Principal(record))
    }

    /// The key record of `secret`, from a cache that is trusted only while the store's
    /// ``AccessStore/changeStamp()`` is unchanged: any commit (a revocation by `berth keys` in
    /// another process included) empties it, so a revoked key is still refused at once, while
    /// steady traffic costs two `stat` calls instead of a database read per request.
    private func cachedKey(_ secret: APIKeySecret, _ store: any AccessStore) throws -> APIKeyRecord? {
        let stamp = store.changeStamp()
        let hash = secret.hash
        if let stamp, let hit = keys.withLock({ c -> APIKeyRecord?? in
            guard c.stamp == stamp else { c = KeyCache(stamp: stamp); return nil }
            return c.records[hash]
        }) {
            return hit
        }
        let record = try store.key(for: secret)
        // Stored under the stamp taken before the read: a commit during the read changes the
        // stamp, so the entry is never served for a newer state.
        if let stamp {
            keys.withLock { c in
                guard c.stamp == stamp else { return }
                if c.records.count >= Self.maxCachedKeys { c.records.removeAll() }
                c.records[hash] = .some(record)
            }
        }
        return record
    }

    private struct KeyCache {
        var stamp: [Int64]?
        /// Key hash → the record (nil: no such key).
        var records: [String: APIKeyRecord?] = [:]
    }

    private let keys = Locked(KeyCache())
    static let maxCachedKeys = 10_000

    /// Whether `principal` may see `model` (another tenant's model is as if it did not exist).
    /// Fails closed: when ownership cannot be read, nobody but an admin sees the model.
    public func maySee(_ principal: Principal, model: String) -> Bool {
        if principal.role == .admin && principal != .nobody { return true }
        guard let o = try? ownership(of: model) else { return false }
        return principal.maySee(model: model, ownership: o)
    }

    /// Who owns `model`. Owners are cached for a second (ownership changes rarely, and a model
    /// pushed through this server is noted at once, ``noteOwner(_:of:)``). A failed read keeps
    /// the last good answer; with none, it throws (the caller refuses: fail closed).
    public func ownership(of model: String) throws -> Ownership {
        guard let store else { return .notInRegistry }
        let now = Date()
        let map: ModelOwners
        if let cached = owners.withLock({ $0.fresh(at: now) }) {
            map = cached
        } else if let loaded = try? store.owners() {
            owners.withLock { $0 = OwnerCache(map: loaded, loadedAt: now) }
            map = loaded
        } else if let stale = owners.withLock({ $0.map }) {
            map = stale
        } else {
            throw ServerError.authUnavailable("cannot read the models' owners from the registry database")
        }
        if let t = map.owned[model] { return .tenant(t) }
        return map.unowned.contains(model) ? .unowned : .notInRegistry
    }

    /// Records that `tenant` now owns `model`.
    public func noteOwner(_ tenant: String?, of model: String) {
        guard let tenant else { return }
        owners.withLock {
            $0.map?.owned[model] = tenant
            $0.map?.unowned.remove(model)
        }
    }

    /// Appends to the audit log off the request path; a failure is logged, never thrown at the
    /// caller. At most ``maxPendingAudits`` entries wait; beyond, entries are dropped and logged.
    public func audit(_ entry: AuditEntry) {
        guard let store else { return }
        var entry = entry
        if let t = entry.target, t.count > 256 { entry.target = String(t.prefix(256)) + "…" }
        let admitted = pendingAudits.withLock { n -> Bool in
            guard n < Self.maxPendingAudits else { return false }
            n += 1
            return true
        }
        let logger = self.logger
        guard admitted else {
            logger.error("audit log backlog full; entry dropped", metadata: ["action": "\(entry.action)", "status": "\(entry.status)"])
            return
        }
        let pending = pendingAudits, written = entry
        auditQueue.async {
            defer { pending.withLock { $0 -= 1 } }
            do { try store.audit(written) } catch {
                logger.error("cannot write the audit log", metadata: ["error": "\(error)", "action": "\(written.action)"])
            }
        }
    }

    /// Audit entries waiting to be written, and the most that may.
    private let pendingAudits = Locked(0)
    static let maxPendingAudits = 10_000

    /// Waits until every audit entry handed over so far is written (tests, shutdown).
    public func flushAudit() { auditQueue.sync {} }

    private struct OwnerCache {
        var map: ModelOwners?
        var loadedAt = Date.distantPast

        func fresh(at now: Date) -> ModelOwners? {
            guard let map, now.timeIntervalSince(loadedAt) < 1 else { return nil }
            return map
        }
    }
}
