import BerthONNX
import BerthTensor

/// StringNormalizer: drops the `stopwords` (compared case-insensitively unless
/// `is_case_sensitive`), then applies `case_change_action` (LOWER, UPPER or NONE). Input [C]
/// or [1, C]; when every string is dropped the output is one empty string ([1] or [1, 1]), as
/// in ONNX Runtime. Case mapping is Unicode's default; the `locale` attribute is not consulted.
func stringNormalizer(_ node: Node) throws -> Kernel {
    let action = try node.string("case_change_action", default: "NONE")
    guard ["LOWER", "UPPER", "NONE"].contains(action) else {
        throw KernelError("StringNormalizer case_change_action must be LOWER, UPPER or NONE, got '\(action)'")
    }
    let caseSensitive = try node.int("is_case_sensitive", default: 0) != 0
    let stopwords: [String]
    if case let .strings(s)? = node.attributes["stopwords"] { stopwords = s } else { stopwords = [] }
    let stopSet = Set(caseSensitive ? stopwords : stopwords.map { $0.lowercased() })
    return { inputs, _ in
        let x = try inputs.required(0)
        guard case let .string(v) = x.storage else { throw KernelError("StringNormalizer input must be strings, got \(x.dtype)") }
        guard x.rank == 1 || (x.rank == 2 && x.shape[0] == 1) else {
            throw KernelError("StringNormalizer input must be [C] or [1, C], got shape \(x.shape)")
        }
        var kept = v.filter { !stopSet.contains(caseSensitive ? $0 : $0.lowercased()) }
        switch action {
        case "LOWER": kept = kept.map { $0.lowercased() }
        case "UPPER": kept = kept.map { $0.uppercased() }
        default: break
        }
        if kept.isEmpty { kept = [""] }
        let shape = x.rank == 1 ? [kept.count] : [1, kept.count]
        return [Tensor(unchecked: shape, storage: .string(kept))]
    }
}
