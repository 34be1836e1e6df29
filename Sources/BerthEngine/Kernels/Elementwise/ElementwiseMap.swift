import BerthONNX
import BerthTensor
import Foundation

// Shared machinery of the elementwise family: an op is a small struct with a generic
// `callAsFunction`, and one generic driver per element kind applies it. With whole-module
// optimisation every (op, element type) pair is specialised into a tight, inlined loop.

/// Work items per thread below which an elementwise loop stays on the calling thread.
/// Cheap ops (Relu, Neg, Clip) are memory bound, so only big tensors are worth splitting.
let elementwiseMinChunk = 16384
/// Like ``elementwiseMinChunk`` for ops that call a transcendental function per element.
let elementwiseMinChunkTranscendental = 4096

/// Floating-point element types that kernels compute in natively (float16 is computed in Float).
protocol ElementwiseFloat: BinaryFloatingPoint, NumericElement, BitwiseCopyable {
    static func ewExp(_ x: Self) -> Self
    static func ewExpm1(_ x: Self) -> Self
    static func ewLog(_ x: Self) -> Self
    static func ewLog1p(_ x: Self) -> Self
    static func ewTanh(_ x: Self) -> Self
    static func ewErf(_ x: Self) -> Self
    static func ewErfc(_ x: Self) -> Self
    static func ewSin(_ x: Self) -> Self
    static func ewCos(_ x: Self) -> Self
    static func ewTan(_ x: Self) -> Self
    static func ewAsin(_ x: Self) -> Self
    static func ewAcos(_ x: Self) -> Self
    static func ewAtan(_ x: Self) -> Self
    static func ewSinh(_ x: Self) -> Self
    static func ewCosh(_ x: Self) -> Self
    static func ewAsinh(_ x: Self) -> Self
    static func ewAcosh(_ x: Self) -> Self
    static func ewAtanh(_ x: Self) -> Self
    /// Converts an attribute value (ONNX float attributes are float32).
    init(ewAttribute: Float)
}

extension Float: ElementwiseFloat {
    @inline(__always) static func ewExp(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) static func ewExpm1(_ x: Float) -> Float { Foundation.expm1(x) }
    @inline(__always) static func ewLog(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) static func ewLog1p(_ x: Float) -> Float { Foundation.log1p(x) }
    @inline(__always) static func ewTanh(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) static func ewErf(_ x: Float) -> Float { Foundation.erf(x) }
    @inline(__always) static func ewErfc(_ x: Float) -> Float { Foundation.erfc(x) }
    @inline(__always) static func ewSin(_ x: Float) -> Float { Foundation.sin(x) }
    @inline(__always) static func ewCos(_ x: Float) -> Float { Foundation.cos(x) }
    @inline(__always) static func ewTan(_ x: Float) -> Float { Foundation.tan(x) }
    @inline(__always) static func ewAsin(_ x: Float) -> Float { Foundation.asin(x) }
    @inline(__always) static func ewAcos(_ x: Float) -> Float { Foundation.acos(x) }
    @inline(__always) static func ewAtan(_ x: Float) -> Float { Foundation.atan(x) }
    @inline(__always) static func ewSinh(_ x: Float) -> Float { Foundation.sinh(x) }
    @inline(__always) static func ewCosh(_ x: Float) -> Float { Foundation.cosh(x) }
    @inline(__always) static func ewAsinh(_ x: Float) -> Float { Foundation.asinh(x) }
    @inline(__always) static func ewAcosh(_ x: Float) -> Float { Foundation.acosh(x) }
    @inline(__always) static func ewAtanh(_ x: Float) -> Float { Foundation.atanh(x) }
    @inline(__always) init(ewAttribute v: Float) { self = v }
}

extension Double: ElementwiseFloat {
    @inline(__always) static func ewExp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func ewExpm1(_ x: Double) -> Double { Foundation.expm1(x) }
    @inline(__always) static func ewLog(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) static func ewLog1p(_ x: Double) -> Double { Foundation.log1p(x) }
    @inline(__always) static func ewTanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) static func ewErf(_ x: Double) -> Double { Foundation.erf(x) }
    @inline(__always) static func ewErfc(_ x: Double) -> Double { Foundation.erfc(x) }
    @inline(__always) static func ewSin(_ x: Double) -> Double { Foundation.sin(x) }
    @inline(__always) static func ewCos(_ x: Double) -> Double { Foundation.cos(x) }
    @inline(__always) static func ewTan(_ x: Double) -> Double { Foundation.tan(x) }
    @inline(__always) static func ewAsin(_ x: Double) -> Double { Foundation.asin(x) }
    @inline(__always) static func ewAcos(_ x: Double) -> Double { Foundation.acos(x) }
    @inline(__always) static func ewAtan(_ x: Double) -> Double { Foundation.atan(x) }
    @inline(__always) static func ewSinh(_ x: Double) -> Double { Foundation.sinh(x) }
    @inline(__always) static func ewCosh(_ x: Double) -> Double { Foundation.cosh(x) }
    @inline(__always) static func ewAsinh(_ x: Double) -> Double { Foundation.asinh(x) }
    @inline(__always) static func ewAcosh(_ x: Double) -> Double { Foundation.acosh(x) }
    @inline(__always) static func ewAtanh(_ x: Double) -> Double { Foundation.atanh(x) }
    @inline(__always) init(ewAttribute v: Float) { self = Double(v) }
}

/// An elementwise function on floating-point values.
protocol ElementwiseFloatOp: Sendable {
    func callAsFunction<T: ElementwiseFloat>(_ x: T) -> T
    /// The whole-array float32 path; by default the scalar function in a loop.
    func mapFloat32(_ v: [Float], _ pool: ThreadPool, minChunk: Int) -> [Float]
    /// The whole-array float16 path, computed in Float; by default the scalar function in a loop.
    func mapFloat16(_ v: [Float16], _ pool: ThreadPool, minChunk: Int) -> [Float16]
}

extension ElementwiseFloatOp {
    func mapFloat32(_ v: [Float], _ pool: ThreadPool, minChunk: Int) -> [Float] {
        elementwiseMap(v, pool, minChunk: minChunk) { self($0) }
    }
    func mapFloat16(_ v: [Float16], _ pool: ThreadPool, minChunk: Int) -> [Float16] {
        elementwiseMap(v, pool, minChunk: minChunk) { Float16(self(Float($0))) }
    }
}

/// An op with an eight-lane float32 form (see VectorMath.swift), used for float32 tensors.
protocol ElementwiseVectorOp: ElementwiseFloatOp {
    func vector(_ x: EWVector) -> EWVector
}

extension ElementwiseVectorOp {
    func mapFloat32(_ v: [Float], _ pool: ThreadPool, minChunk: Int) -> [Float] {
        elementwiseMapVector(v, pool, minChunk: minChunk) { vector($0) }
    }
    func mapFloat16(_ v: [Float16], _ pool: ThreadPool, minChunk: Int) -> [Float16] {
        elementwiseMapVector(v, pool, minChunk: minChunk) { vector($0) }
    }
}

/// An elementwise function on integers (for ops whose type list includes integer tensors).
protocol ElementwiseIntegerOp: Sendable {
    func callAsFunction<T: FixedWidthInteger>(_ x: T) -> T
}

/// Maps `src` through `f` into a new array, splitting big arrays across the pool.
@inline(__always)
func elementwiseMap<S, D: BitwiseCopyable>(_ src: [S], _ pool: ThreadPool, minChunk: Int, _ f: (S) -> D) -> [D] {
    let n = src.count
    if n == 0 { return [] }
    return [D](unsafeUninitializedCapacity: n) { out, initialized in
        src.withUnsafeBufferPointer { inp in
            guard let ip = inp.baseAddress, let op = out.baseAddress else { return }
            pool.parallelFor(n, minChunk: minChunk) { r in
                // Zero-based loop over rebased pointers with plain stores (D is bitwise copyable,
                // so storing into uninitialised memory is fine): LLVM vectorises selects such as
                // Relu and Clip in this form, but not with `for i in r` or `initialize(to:)`.
                let o = op + r.lowerBound, s = ip + r.lowerBound
                for i in 0..<r.count { o[i] = f(s[i]) }
            }
        }
        initialized = n
    }
}

/// Applies a float op to a float32, float64 or float16 tensor (float16 is computed in Float).
func elementwiseApply<Op: ElementwiseFloatOp>(_ x: Tensor, _ ctx: KernelContext, _ opName: String, _ op: Op,
                                              minChunk: Int = elementwiseMinChunkTranscendental) throws -> Tensor {
    switch x.storage {
    case let .float32(v): return Tensor(unchecked: x.shape, storage: .float32(op.mapFloat32(v, ctx.pool, minChunk: minChunk)))
    case let .float64(v): return Tensor(unchecked: x.shape, storage: .float64(elementwiseMap(v, ctx.pool, minChunk: minChunk) { op($0) }))
    case let .float16(v): return Tensor(unchecked: x.shape, storage: .float16(op.mapFloat16(v, ctx.pool, minChunk: minChunk)))
    default:
        throw KernelError("\(opName) expects a float, double or float16 tensor, got \(x.dtype)")
    }
}

/// Applies an op that has both float and integer forms to any numeric tensor.
func elementwiseApplyNumeric<Op: ElementwiseFloatOp & ElementwiseIntegerOp>(
    _ x: Tensor, _ ctx: KernelContext, _ opName: String, _ op: Op, minChunk: Int = elementwiseMinChunk
) throws -> Tensor {
    @inline(__always) func ints<T: FixedWidthInteger & BitwiseCopyable>(_ v: [T]) -> [T] {
        elementwiseMap(v, ctx.pool, minChunk: minChunk) { op($0) }
    }
    switch x.storage {
    case .float32, .float64, .float16: return try elementwiseApply(x, ctx, opName, op, minChunk: minChunk)
    case let .int8(v): return Tensor(unchecked: x.shape, storage: .int8(ints(v)))
    case let .uint8(v): return Tensor(unchecked: x.shape, storage: .uint8(ints(v)))
    case let .int16(v): return Tensor(unchecked: x.shape, storage: .int16(ints(v)))
    case let .uint16(v): return Tensor(unchecked: x.shape, storage: .uint16(ints(v)))
    case let .int32(v): return Tensor(unchecked: x.shape, storage: .int32(ints(v)))
    case let .uint32(v): return Tensor(unchecked: x.shape, storage: .uint32(ints(v)))
    case let .int64(v): return Tensor(unchecked: x.shape, storage: .int64(ints(v)))
    case let .uint64(v): return Tensor(unchecked: x.shape, storage: .uint64(ints(v)))
    case .bool, .string:
        throw KernelError("\(opName) expects a numeric tensor, got \(x.dtype)")
    }
}

extension KernelRegistry {
    /// Registers a unary op on float tensors whose attributes `make` reads once at plan time.
    mutating func registerElementwiseFloat<Op: ElementwiseFloatOp>(
        _ name: String, opsets: ClosedRange<Int> = 1...Int.max, minChunk: Int = elementwiseMinChunkTranscendental,
        _ make: @escaping @Sendable (Node) throws -> Op
    ) {
        register(name, opsets: opsets) { node, _ in
            let op = try make(node)
            return { inputs, ctx in [try elementwiseApply(try inputs.required(0), ctx, name, op, minChunk: minChunk)] }
        }
    }

    /// Registers a unary op on numeric (float and integer) tensors.
    mutating func registerElementwiseNumeric<Op: ElementwiseFloatOp & ElementwiseIntegerOp>(
        _ name: String, opsets: ClosedRange<Int> = 1...Int.max, minChunk: Int = elementwiseMinChunk,
        _ make: @escaping @Sendable (Node) throws -> Op
    ) {
        register(name, opsets: opsets) { node, _ in
            let op = try make(node)
            return { inputs, ctx in [try elementwiseApplyNumeric(try inputs.required(0), ctx, name, op, minChunk: minChunk)] }
        }
    }
}
