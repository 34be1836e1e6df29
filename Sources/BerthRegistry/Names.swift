/// The spelling rules for names the registry stores; they become URL path segments and metric
/// labels, so they are kept plain.
enum Names {
    /// Model names: letters, digits, `_`, `-`, `.`; starting with a letter or digit; ≤ 128.
    static func checkModel(_ name: String) throws {
        try check(name, kind: "model", extra: "_-.", firstMayBeDigit: true)
    }

    /// Alias names: a letter, then letters, digits, `_`, `-`; ≤ 128 (never a number, so `NAME@3`
    /// always means a version).
    static func checkAlias(_ name: String) throws {
        try check(name, kind: "alias", extra: "_-", firstMayBeDigit: false)
    }

    private static func check(_ name: String, kind: String, extra: String, firstMayBeDigit: Bool) throws {
        guard !name.isEmpty, name.count <= 128 else {
            throw RegistryError.invalidName(kind: kind, name: name, reason: "must have 1 to 128 characters")
        }
        let ok = name.unicodeScalars.allSatisfy { s in
            s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || extra.unicodeScalars.contains(s))
        }
        guard ok else {
            throw RegistryError.invalidName(kind: kind, name: name, reason: "use letters, digits and \(extra.map { "'\($0)'" }.joined(separator: " "))")
        }
        let first = name.unicodeScalars.first!
        guard first.properties.isAlphabetic || (firstMayBeDigit && ("0"..."9").contains(first)) else {
            throw RegistryError.invalidName(kind: kind, name: name, reason: firstMayBeDigit ? "must start with a letter or digit" : "must start with a letter")
        }
    }
}
