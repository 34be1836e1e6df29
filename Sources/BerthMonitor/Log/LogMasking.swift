import BerthTensor
import Crypto
import Foundation

/// What the prediction log keeps of one input (`--prediction-log-mask NAME=drop|hash|keep`):
/// personal data can be dropped, or replaced by a digest that still joins and counts equal values.
public enum MaskAction: String, Sendable, CaseIterable {
    /// Not stored.
    case drop
    /// Each element stored as the first 16 hex digits of the SHA-256 of its text.
    case hash
    /// Stored as sent (the default).
    case keep
}

/// Masking rules by input name.
public struct LogMasking: Sendable, Equatable {
    /// The rule per input; inputs without one are kept.
    public var rules: [String: MaskAction]

    /// Rules from their parts.
    public init(rules: [String: MaskAction] = [:]) { self.rules = rules }

    /// Parses `NAME=ACTION` items (the command-line form).
    public init(parsing items: [String]) throws {
        var rules: [String: MaskAction] = [:]
        for item in items {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let action = MaskAction(rawValue: parts[1]) else {
                throw MonitorError.invalidArgument("mask rule '\(item)' is not NAME=drop|hash|keep")
            }
            guard rules.updateValue(action, forKey: parts[0]) == nil else {
                throw MonitorError.invalidArgument("input '\(parts[0])' has two mask rules")
            }
        }
        self.rules = rules
    }

    /// The inputs with the rules applied, in order.
    public func apply(_ inputs: [(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)] {
        if rules.isEmpty { return inputs }
        return inputs.compactMap { item in
            switch rules[item.name] ?? .keep {
            case .keep: return item
            case .drop: return nil
            case .hash: return (item.name, Self.hashed(item.tensor))
            }
        }
    }

    /// A string tensor of the same shape holding each element's digest.
    static func hashed(_ t: Tensor) -> Tensor {
        let texts: [String]
        if case let .string(v) = t.storage { texts = v } else { texts = t.doubles.map { "\($0)" } }
        let digests = texts.map { text -> String in
            SHA256.hash(data: Data(text.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        }
        return Tensor(unchecked: t.shape, storage: .string(digests))
    }
}
