/// Turns token bytes into text deltas: holds back an incomplete UTF-8 character and any tail
/// that could still become a stop string, and cuts the text before a stop string.
struct StreamingText {
    private(set) var bytes: [UInt8] = []
    private(set) var sent = 0

    /// Appends a token's bytes; returns the newly visible text and whether a stop string appeared.
    mutating func append(_ piece: [UInt8], stops: [String]) -> (String, Bool) {
        bytes += piece
        let valid = Self.validPrefix(bytes)
        for stop in stops where !stop.isEmpty {
            let s = Array(stop.utf8)
            // Only look where the new bytes could complete a match.
            let from = max(0, sent - s.count + 1)
            if let at = Self.find(s, in: bytes[..<valid], from: from) {
                let delta = at > sent ? String(decoding: bytes[sent..<at], as: UTF8.self) : ""
                bytes.removeSubrange(at...)
                sent = bytes.count
                return (delta, true)
            }
        }
        var end = valid
        for stop in stops where !stop.isEmpty {
            let s = Array(stop.utf8)
            // Longest tail of the text that is a proper prefix of the stop string.
            var k = min(s.count - 1, valid - sent)
            while k > 0 {
                if bytes[(valid - k)..<valid].elementsEqual(s[0..<k]) { break }
                k -= 1
            }
            end = min(end, valid - k)
        }
        guard end > sent else { return ("", false) }
        let delta = String(decoding: bytes[sent..<end], as: UTF8.self)
        sent = end
        return (delta, false)
    }

    /// Everything not yet sent (at the end of a completion).
    mutating func flush() -> String {
        guard sent < bytes.count else { return "" }
        let s = String(decoding: bytes[sent...], as: UTF8.self)
        sent = bytes.count
        return s
    }

    /// The complete text so far.
    var text: String { String(decoding: bytes, as: UTF8.self) }

    static func find(_ needle: [UInt8], in hay: ArraySlice<UInt8>, from: Int) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var i = max(from, hay.startIndex)
        while i + needle.count <= hay.endIndex {
            if hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    /// Length of the longest prefix that does not end inside a UTF-8 character.
    static func validPrefix(_ b: [UInt8]) -> Int {
        var i = b.count
        var back = 0
        while i > 0 && back < 4 {
            let c = b[i - 1]
            if c & 0xC0 == 0x80 { i -= 1; back += 1; continue }
            let need = c & 0x80 == 0 ? 1 : (c & 0xE0 == 0xC0 ? 2 : (c & 0xF0 == 0xE0 ? 3 : (c & 0xF8 == 0xF0 ? 4 : 1)))
            return need <= back + 1 ? b.count : i - 1
        }
        return b.count
    }
}
