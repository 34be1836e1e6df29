/// Why a registry operation failed. Each case says what was asked and what was found, so the
/// CLI and the admin API can pass the description on unchanged.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A model, version or alias name that is not allowed.
    case invalidName(kind: String, name: String, reason: String)
    /// No model of that name.
    case modelNotFound(String)
    /// The model exists but has no such version.
    case versionNotFound(model: String, version: Int)
    /// The model has no such alias.
    case aliasNotFound(model: String, alias: String)
    /// The pushed file is not a model Berth can read.
    case invalidModel(String)
    /// The pushed model's inputs or outputs differ from the reference version's.
    case signatureChanged(model: String, against: Int, differences: [String])
    /// A promotion gate was not met by the version's metrics.
    case gateFailed(model: String, version: Int, failures: [String])
    /// The operation is refused in the current state (an aliased version cannot be deleted ...).
    case conflict(String)
    /// Bad arguments (a malformed metrics file, a negative percentage ...).
    case badInput(String)
    /// An artifact is missing or does not match its recorded checksum.
    case corruptArtifact(model: String, version: Int, reason: String)
    /// The database or the file system failed.
    case storage(String)
    /// A version that is unsigned or wrongly signed where signatures are required (nil version: not pushed yet).
    case untrusted(model: String, version: Int?, reason: String)
    /// The shared registry database cannot be reached (PostgreSQL down): retry later.
    case unavailable(String)

    public var description: String {
        switch self {
        case let .invalidName(kind, name, reason): return "invalid \(kind) name '\(name)': \(reason)"
        case let .modelNotFound(m): return "unknown model '\(m)'"
        case let .versionNotFound(m, v): return "model '\(m)' has no version \(v)"
        case let .aliasNotFound(m, a): return "model '\(m)' has no alias '\(a)'"
        case let .invalidModel(why): return "not a valid ONNX model: \(why)"
        case let .signatureChanged(m, v, diffs):
            return "the signature differs from '\(m)' version \(v): " + diffs.joined(separator: "; ")
                + " (pass --allow-signature-change / allow_signature_change=true if clients are ready for it)"
        case let .gateFailed(m, v, failures):
            return "model '\(m)' version \(v) misses the promotion gate: " + failures.joined(separator: "; ")
        case let .conflict(why): return why
        case let .badInput(why): return why
        case let .corruptArtifact(m, v, why): return "artifact of '\(m)' version \(v) is unusable: \(why)"
        case let .storage(why): return "registry storage error: \(why)"
        case let .untrusted(m, v, why): return "'\(m)'\(v.map { " version \($0)" } ?? "") is refused: \(why)"
        case let .unavailable(why): return "the registry database is unavailable: \(why)"
        }
    }

    /// True for errors caused by the caller's request (as opposed to storage failures).
    public var isClientError: Bool {
        switch self {
        case .storage, .corruptArtifact, .unavailable: return false
        default: return true
        }
    }
}
