import BerthONNX
import BerthTensor

extension Session {
    /// The most elements ``sampleInputs(batch:dims:intRange:seed:)`` makes for one input (1 GiB of float32).
    public static let maxSampleElements = 1 << 28

    /// Random feeds built from the input metadata, for `berth run --random`, `berth perf` and
    /// warm-up. The first symbolic dimension becomes `batch`; `dims` names other symbolic sizes;
    /// any other unknown dimension becomes 1. Integer inputs draw from `0..<intRange` so that
    /// token ids stay valid for embedding lookups.
    public func sampleInputs(batch: Int = 1, dims: [String: Int] = [:], intRange: Int = 10, seed: UInt64 = 42) throws -> [String: Tensor] {
        var rng = SplitMix64(seed: seed)
        var feeds: [String: Tensor] = [:]
        for info in inputs {
            switch info.kind {
            case .tensor, .optional(.tensor): break
            default: throw EngineError.sampleInput(name: info.name, reason: "it is a \(info.kind); random inputs are tensors only")
            }
            var batchUsed = false
            let shape: [Int] = (info.shape ?? []).map { d in
                switch d {
                case let .fixed(n): return n
                case let .symbolic(s):
                    if let v = dims[s] { return v }
                    if !batchUsed { batchUsed = true; return batch }
                    return 1
                case .unknown:
                    if !batchUsed { batchUsed = true; return batch }
                    return 1
                }
            }
            // Declared dimensions come from the file: an absurd one must be an error, not an allocation.
            let n: Int
            do { n = try Shape.elementCount(shape) } catch {
                throw EngineError.sampleInput(name: info.name, reason: "\(error)")
            }
            guard n <= Self.maxSampleElements else {
                throw EngineError.sampleInput(name: info.name, reason: "shape \(shape) has \(n) elements, more than the limit \(Self.maxSampleElements)")
            }
            let dtype = info.dtype ?? .float32
            let storage: TensorStorage
            switch dtype {
            case .float32: storage = .float32((0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) })
            case .float64: storage = .float64((0..<n).map { _ in rng.nextUnit() * 2 - 1 })
            case .float16: storage = .float16((0..<n).map { _ in Float16(rng.nextUnit() * 2 - 1) })
            case .bool: storage = .bool((0..<n).map { _ in rng.next() & 1 == 1 })
            case .string: storage = .string((0..<n).map { _ in "s\(rng.next() % 4)" })
            default:
                let values = (0..<n).map { _ in Double(rng.next() % UInt64(max(1, intRange))) }
                storage = dtype.withNumericType { t in Self.convert(values, to: t) } ?? .zeros(dtype, count: n)
            }
            feeds[info.name] = try Tensor(shape: shape, storage: storage)
        }
        return feeds
    }

    private static func convert<T: NumericElement>(_ v: [Double], to: T.Type) -> TensorStorage {
        T.storage(v.map { T(fromDouble: $0) })
    }
}

/// SplitMix64: a small, fast, seedable generator, so sample and benchmark inputs are reproducible.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Uniform in [0, bound) (a bound below 1 is treated as 1).
    public mutating func next(below bound: Int) -> UInt64 { next() % UInt64(max(1, bound)) }
}
