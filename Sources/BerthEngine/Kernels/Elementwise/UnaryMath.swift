import BerthONNX
import BerthTensor

// Unary math: roots, exponentials, rounding, trigonometry, sign, and the predicates
// (IsNaN, IsInf, Not) plus Identity.

struct AbsOp: ElementwiseFloatOp, ElementwiseIntegerOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { abs(x) }
    // Wrapping negation: abs(Int8.min) is Int8.min, as in NumPy, instead of a trap.
    @inline(__always) func callAsFunction<T: FixedWidthInteger>(_ x: T) -> T { x < 0 ? 0 &- x : x }
}

struct NegOp: ElementwiseFloatOp, ElementwiseIntegerOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { -x }
    @inline(__always) func callAsFunction<T: FixedWidthInteger>(_ x: T) -> T { 0 &- x }
}

struct SignOp: ElementwiseFloatOp, ElementwiseIntegerOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { x > 0 ? 1 : (x < 0 ? -1 : x) }
    @inline(__always) func callAsFunction<T: FixedWidthInteger>(_ x: T) -> T { x > 0 ? 1 : (x < 0 ? 0 &- 1 : 0) }
}

struct SqrtOp: ElementwiseFloatOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { x.squareRoot() }
}

struct ReciprocalOp: ElementwiseFloatOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { 1 / x }
}

struct FloorOp: ElementwiseFloatOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { x.rounded(.down) }
}

struct CeilOp: ElementwiseFloatOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { x.rounded(.up) }
}

/// Round halves to even, as ONNX specifies.
struct RoundOp: ElementwiseFloatOp {
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { x.rounded(.toNearestOrEven) }
}

// One op type per libm function (rather than a function value chosen at plan time) so each
// specialises into its own loop with a direct call.
struct ExpOp: ElementwiseVectorOp {
    @inline(__always) func vector(_ x: EWVector) -> EWVector { ewExp(x) }
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewExp(x) }
}
struct LogOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewLog(x) } }
struct ErfOp: ElementwiseVectorOp {
    @inline(__always) func vector(_ x: EWVector) -> EWVector { ewErf(x) }
    @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewErf(x) }
}
struct SinOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewSin(x) } }
struct CosOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewCos(x) } }
struct TanOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewTan(x) } }
struct AsinOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewAsin(x) } }
struct AcosOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewAcos(x) } }
struct AtanOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewAtan(x) } }
struct SinhOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewSinh(x) } }
struct CoshOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewCosh(x) } }
struct AsinhOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewAsinh(x) } }
struct AcoshOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewAcosh(x) } }
struct AtanhOp: ElementwiseFloatOp { @inline(__always) func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T { T.ewAtanh(x) } }

/// Maps a float tensor to a bool tensor.
@inline(__always)
func elementwisePredicate(_ x: Tensor, _ ctx: KernelContext, _ opName: String,
                          _ f32: (Float) -> Bool, _ f64: (Double) -> Bool) throws -> Tensor {
    let out: [Bool]
    switch x.storage {
    case let .float32(v): out = elementwiseMap(v, ctx.pool, minChunk: elementwiseMinChunk, f32)
    case let .float64(v): out = elementwiseMap(v, ctx.pool, minChunk: elementwiseMinChunk, f64)
    case let .float16(v): out = elementwiseMap(v, ctx.pool, minChunk: elementwiseMinChunk) { f32(Float($0)) }
    default: throw KernelError("\(opName) expects a float, double or float16 tensor, got \(x.dtype)")
    }
    return Tensor(unchecked: x.shape, storage: .bool(out))
}

extension KernelRegistry {
    /// Registers the unary math ops, IsNaN, IsInf, Not and Identity.
    mutating func registerElementwiseMath() {
        registerElementwiseNumeric("Abs") { _ in AbsOp() }
        registerElementwiseNumeric("Neg") { _ in NegOp() }
        registerElementwiseNumeric("Sign", opsets: 9...Int.max) { _ in SignOp() }
        registerElementwiseFloat("Sqrt", minChunk: elementwiseMinChunk) { _ in SqrtOp() }
        registerElementwiseFloat("Reciprocal", minChunk: elementwiseMinChunk) { _ in ReciprocalOp() }
        registerElementwiseFloat("Floor", minChunk: elementwiseMinChunk) { _ in FloorOp() }
        registerElementwiseFloat("Ceil", minChunk: elementwiseMinChunk) { _ in CeilOp() }
        registerElementwiseFloat("Round", opsets: 11...Int.max, minChunk: elementwiseMinChunk) { _ in RoundOp() }
        registerElementwiseFloat("Exp") { _ in ExpOp() }
        registerElementwiseFloat("Log") { _ in LogOp() }
        registerElementwiseFloat("Erf", opsets: 9...Int.max) { _ in ErfOp() }
        registerElementwiseFloat("Sin", opsets: 7...Int.max) { _ in SinOp() }
        registerElementwiseFloat("Cos", opsets: 7...Int.max) { _ in CosOp() }
        registerElementwiseFloat("Tan", opsets: 7...Int.max) { _ in TanOp() }
        registerElementwiseFloat("Asin", opsets: 7...Int.max) { _ in AsinOp() }
        registerElementwiseFloat("Acos", opsets: 7...Int.max) { _ in AcosOp() }
        registerElementwiseFloat("Atan", opsets: 7...Int.max) { _ in AtanOp() }
        registerElementwiseFloat("Sinh", opsets: 9...Int.max) { _ in SinhOp() }
        registerElementwiseFloat("Cosh", opsets: 9...Int.max) { _ in CoshOp() }
        registerElementwiseFloat("Asinh", opsets: 9...Int.max) { _ in AsinhOp() }
        registerElementwiseFloat("Acosh", opsets: 9...Int.max) { _ in AcoshOp() }
        registerElementwiseFloat("Atanh", opsets: 9...Int.max) { _ in AtanhOp() }

        register("IsNaN", opsets: 9...Int.max) { _, _ in
            { inputs, ctx in [try elementwisePredicate(try inputs.required(0), ctx, "IsNaN", { $0.isNaN }, { $0.isNaN })] }
        }
        register("IsInf", opsets: 10...Int.max) { node, _ in
            let negative = try node.int("detect_negative", default: 1) != 0
            let positive = try node.int("detect_positive", default: 1) != 0
            return { inputs, ctx in
                [try elementwisePredicate(try inputs.required(0), ctx, "IsInf",
                                          { $0.isInfinite && ($0 > 0 ? positive : negative) },
                                          { $0.isInfinite && ($0 > 0 ? positive : negative) })]
            }
        }
        register("Not") { _, _ in
            { inputs, ctx in
                let x = try inputs.required(0)
                guard case let .bool(v) = x.storage else { throw KernelError("Not expects a bool tensor, got \(x.dtype)") }
                return [Tensor(unchecked: x.shape, storage: .bool(elementwiseMap(v, ctx.pool, minChunk: elementwiseMinChunk) { !$0 }))]
            }
        }
        // Tensors are copy-on-write values, so Identity shares the input's storage.
        // Over values: Identity passes sequences and optionals through too (opsets 14 and 16).
        register("Identity", opsets: 1...Int.max) { _, _, _ in
            { inputs, _ in
                guard let v = inputs.first ?? nil else { throw KernelError("required input 0 is missing") }
                return [v]
            }
        }
    }
}
