import BerthONNX
import BerthTensor

// Activation functions. Each op is a struct holding its attributes; see ElementwiseMap.swift.

struct ReluOp: ElementwiseFloatOp, ElementwiseIntegerOp {
    // `x < 0 ? 0 : x` (not `max`) keeps NaN, as NumPy's maximum does, and vectorises.
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { x < 0 ? 0 : x }
    @inline(__always) func callAsFunction<T: FixedWidthInteger>(_ x: T) -> T { x < 0 ? 0 : x }
}

struct LeakyReluOp: ElementwiseFloatOp {
    var alpha: Float
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { x < 0 ? T(ewAttribute: alpha) * x : x }
}

struct ThresholdedReluOp: ElementwiseFloatOp {
    var alpha: Float
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { x > T(ewAttribute: alpha) ? x : 0 }
}

struct EluOp: ElementwiseVectorOp {
    var alpha: Float
    @inline(__always) func vector(_ x: EWVector) -> EWVector {
        (alpha * ewExpm1(x)).replacing(with: x, where: .!(x .< 0))
    }
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T {
        x < 0 ? T(ewAttribute: alpha) * T.ewExpm1(x) : x
    }
}

struct CeluOp: ElementwiseVectorOp {
    var alpha: Float
    @inline(__always) func vector(_ x: EWVector) -> EWVector {
        (alpha * ewExpm1(x / alpha)).replacing(with: x, where: .!(x .< 0))
    }
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T {
        let a = T(ewAttribute: alpha)
        return x < 0 ? a * T.ewExpm1(x / a) : x
    }
}

struct SeluOp: ElementwiseVectorOp {
    var alpha: Float
    var gamma: Float
    @inline(__always) func vector(_ x: EWVector) -> EWVector {
        (gamma * (alpha * ewExpm1(x))).replacing(with: gamma * x, where: x .> 0)
    }
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T {
        let g = T(ewAttribute: gamma)
        return x <= 0 ? g * (T(ewAttribute: alpha) * T.ewExpm1(x)) : g * x
    }
}

struct SigmoidOp: ElementwiseVectorOp {
    @inline(__always) func vector(_ x: EWVector) -> EWVector { ewSigmoid(x) }
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T {
        // Two branches so exp never overflows and small results keep their precision.
        if x >= 0 { return 1 / (1 + T.ewExp(-x)) }
        let e = T.ewExp(x)
        return e / (1 + e)
    }
}

struct HardSigmoidOp: ElementwiseFloatOp {
    var alpha: Float
    var beta: Float
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T {
        let y = T(ewAttribute: alpha) * x + T(ewAttribute: beta)
        return y < 0 ? 0 : (y > 1 ? 1 : y)
    }
}

struct HardSwishOp: ElementwiseFloatOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T {
        let y = x * T(ewAttribute: 1 / 6 as Float) + T(0.5)
        return x * (y < 0 ? 0 : (y > 1 ? 1 : y))
    }
}

struct SoftplusOp: ElementwiseFloatOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T {
        // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large x.
        (x > 0 ? x : 0) + T.ewLog1p(T.ewExp(-abs(x)))
    }
}

struct SoftsignOp: ElementwiseFloatOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { x / (1 + abs(x)) }
}

struct MishOp: ElementwiseFloatOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T {
        x * T.ewTanh((x > 0 ? x : 0) + T.ewLog1p(T.ewExp(-abs(x))))
    }
}

struct TanhOp: ElementwiseVectorOp {
    @inline(__always) func vector(_ x: EWVector) -> EWVector { ewTanh(x) }
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewTanh(x) }
}

/// GELU (opset 20). `approximate = "none"` uses erfc, which stays accurate in the negative tail
/// where `1 + erf` would cancel.
struct GeluOp: ElementwiseVectorOp {
    var tanhApproximation: Bool
    @inline(__always) func vector(_ x: EWVector) -> EWVector { tanhApproximation ? ewGeluTanh(x) : ewGelu(x) }
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T {
        if tanhApproximation {
            let k = T(0.7978845608028654)  // sqrt(2 / pi)
            let inner = k * (x + T(0.044715) * x * x * x)
            return T(0.5) * x * (1 + T.ewTanh(inner))
        }
        return T(0.5) * x * T.ewErfc(-x * T(0.7071067811865476))
    }
}

extension KernelRegistry {
    /// Registers Relu, LeakyRelu, ThresholdedRelu, Elu, Celu, Selu, Sigmoid, HardSigmoid, HardSwish,
    /// Softplus, Softsign, Mish, Tanh and Gelu.
    mutating func registerElementwiseActivations() {
        registerElementwiseNumeric("Relu", minChunk: elementwiseMinChunk) { _ in ReluOp() }
        registerElementwiseFloat("LeakyRelu", minChunk: elementwiseMinChunk) { node in
            LeakyReluOp(alpha: try node.float("alpha", default: 0.01))
        }
        registerElementwiseFloat("ThresholdedRelu", minChunk: elementwiseMinChunk) { node in
            ThresholdedReluOp(alpha: try node.float("alpha", default: 1))
        }
        registerElementwiseFloat("Elu") { node in EluOp(alpha: try node.float("alpha", default: 1)) }
        registerElementwiseFloat("Celu") { node in
            let alpha = try node.float("alpha", default: 1)
            guard alpha != 0 else { throw KernelError("Celu alpha must not be 0") }
            return CeluOp(alpha: alpha)
        }
        registerElementwiseFloat("Selu") { node in
            SeluOp(alpha: try node.float("alpha", default: 1.67326319217681884765625),
                   gamma: try node.float("gamma", default: 1.05070102214813232421875))
        }
        registerElementwiseFloat("Sigmoid") { _ in SigmoidOp() }
        registerElementwiseFloat("HardSigmoid", minChunk: elementwiseMinChunk) { node in
            HardSigmoidOp(alpha: try node.float("alpha", default: 0.2), beta: try node.float("beta", default: 0.5))
        }
        registerElementwiseFloat("HardSwish", minChunk: elementwiseMinChunk) { _ in HardSwishOp() }
        registerElementwiseFloat("Softplus") { _ in SoftplusOp() }
        registerElementwiseFloat("Softsign", minChunk: elementwiseMinChunk) { _ in SoftsignOp() }
        registerElementwiseFloat("Mish", opsets: 18...Int.max) { _ in MishOp() }
        registerElementwiseFloat("Tanh") { _ in TanhOp() }
        registerElementwiseFloat("Gelu", opsets: 20...Int.max) { node in
            let approximate = try node.string("approximate", default: "none")
            switch approximate {
            case "none": return GeluOp(tanhApproximation: false)
            case "tanh": return GeluOp(tanhApproximation: true)
            default: throw KernelError("Gelu approximate must be \"none\" or \"tanh\", got \"\(approximate)\"")
            }
        }
    }
}
