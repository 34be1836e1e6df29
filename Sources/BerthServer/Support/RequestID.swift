import Synchronization

/// Request ids in UUID version 4 form, made without a system call per request.
///
/// Foundation's `UUID()` on Linux opens and reads `/dev/urandom` for every id (an `openat`,
/// `read` and `close` on each inference request, seen with `strace`). Here two 64-bit keys are
/// drawn from the system generator once per process, and each id is a counter passed through
/// SplitMix64's finalizer keyed by them: the finalizer is a bijection, so ids never repeat within
/// a process, and the random keys keep processes (replicas, restarts) apart.
enum RequestID {
    private static let counter = Atomic<UInt64>(0)
    private static let keys: (UInt64, UInt64) = {
        var g = SystemRandomNumberGenerator()
        return (g.next(), g.next())
    }()

    /// A new id, e.g. `3f2b9c1e-07d4-4a6b-9e21-5c0d8f7a1b44`.
    static func next() -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        let hi = mix(n ^ keys.0)
        // Version 4 in the high nibble of byte 6, RFC 4122 variant in the top bits of byte 8.
        let high = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let low = (mix(n &+ keys.1) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        return format(high, low)
    }

    /// SplitMix64's output function: a bijection on 64-bit values with good avalanche.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The 8-4-4-4-12 lowercase hex form of the 128 bits `high`, `low`.
    static func format(_ high: UInt64, _ low: UInt64) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var i = 0
            func put(_ value: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    buffer[i] = digits.utf8Start[Int((value >> UInt64(shift)) & 0xF)]
                    i += 1
                }
            }
            func dash() {
                buffer[i] = UInt8(ascii: "-")
                i += 1
            }
            put(high >> 32, nibbles: 8)
            dash()
            put((high >> 16) & 0xFFFF, nibbles: 4)
            dash()
            put(high & 0xFFFF, nibbles: 4)
            dash()
            put(low >> 48, nibbles: 4)
            dash()
            put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
            return i
        }
    }
}
