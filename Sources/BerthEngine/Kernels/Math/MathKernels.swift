import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the math family: broadcasting arithmetic (Add Sub Mul Div Pow Mod), comparisons
    /// (Equal Less Greater LessOrEqual GreaterOrEqual), logic (And Or Xor), Where, the variadic
    /// Max Min Sum Mean, MatMul and Gemm, CumSum, Det, BitShift, Einsum, Quantize/DequantizeLinear,
    /// DynamicQuantizeLinear, MatMulInteger and QLinearMatMul.
    mutating func registerMathKernels() {
        registerMathBinary("Add") { try mathArithmetic(.add, $0, $1, pool: $2) }
        registerMathBinary("Sub") { try mathArithmetic(.sub, $0, $1, pool: $2) }
        registerMathBinary("Mul") { try mathArithmetic(.mul, $0, $1, pool: $2) }
        registerMathBinary("Div") { try mathArithmetic(.div, $0, $1, pool: $2) }
        registerMathBinary("Pow") { try mathPow($0, $1, pool: $2) }
        register("Mod", opsets: 10...Int.max) { node, _ in
            let fmod = try node.int("fmod", default: 0)
            guard fmod == 0 || fmod == 1 else { throw KernelError("Mod fmod must be 0 or 1, got \(fmod)") }
            return { inputs, ctx in
                let a = try inputs.required(0), b = try inputs.required(1)
                // Floats always use fmod (the spec requires fmod=1 for them); ints follow the attribute.
                let op: MathArithmetic = fmod == 1 || a.dtype.isFloatingPoint ? .fmod : .floorMod
                return [try mathArithmetic(op, a, b, pool: ctx.pool)]
            }
        }

        registerMathBinary("Equal") { try mathComparison(.equal, $0, $1, pool: $2) }
        registerMathBinary("Less") { try mathComparison(.less, $0, $1, pool: $2) }
        registerMathBinary("Greater") { try mathComparison(.greater, $0, $1, pool: $2) }
        registerMathBinary("LessOrEqual", opsets: 12...Int.max) { try mathComparison(.lessOrEqual, $0, $1, pool: $2) }
        registerMathBinary("GreaterOrEqual", opsets: 12...Int.max) { try mathComparison(.greaterOrEqual, $0, $1, pool: $2) }

        registerMathBinary("And") { try mathLogical(.and, $0, $1, pool: $2) }
        registerMathBinary("Or") { try mathLogical(.or, $0, $1, pool: $2) }
        registerMathBinary("Xor") { try mathLogical(.xor, $0, $1, pool: $2) }

        register("Where", opsets: 9...Int.max) { _, _ in
            { inputs, ctx in
                [try mathWhere(try inputs.required(0), try inputs.required(1), try inputs.required(2), pool: ctx.pool)]
            }
        }

        registerMathVariadic("Max", .max)
        registerMathVariadic("Min", .min)
        registerMathVariadic("Sum", .add)
        registerMathVariadic("Mean", .add, mean: true)

        registerCumSum()
        registerDet()
        registerBitShift()
        registerBitwise()
        registerEinsum()
        registerQuantizeLinear()
        registerIntegerMatMul()

        register("MatMul") { node, _ in
            let cache = MatMulBackendCache(constantWeight: PlanFacts.isInitializer(node, input: 1))
            return { inputs, ctx in [try mathMatMul(try inputs.required(0), try inputs.required(1), pool: ctx.pool, cache: cache)] }
        }
        register("Gemm") { node, _ in
            let attrs = try MathGemmAttributes(node)
            let cache = MatMulBackendCache(constantWeight: PlanFacts.isInitializer(node, input: 1))
            return { inputs, _ in
                [try mathGemm(try inputs.required(0), try inputs.required(1), inputs.optional(2), attrs, cache: cache)]
            }
        }
    }

    /// Registers a two-input broadcasting op. Before opset 7 these ops broadcast only with
    /// `broadcast=1`, aligning B with A at `axis`; that is handled here for every such op.
    private mutating func registerMathBinary(
        _ op: String, opsets: ClosedRange<Int> = 1...Int.max,
        _ body: @escaping @Sendable (Tensor, Tensor, ThreadPool) throws -> Tensor
    ) {
        register(op, opsets: opsets) { node, opset in
            let legacy = try MathLegacyBroadcast(node: node, opset: opset)
            return { inputs, ctx in
                let a = try inputs.required(0)
                let b = try legacy.align(a, try inputs.required(1))
                return [try body(a, b, ctx.pool)]
            }
        }
    }

    /// Registers Max / Min / Sum / Mean over one or more inputs.
    private mutating func registerMathVariadic(_ op: String, _ kind: MathArithmetic, mean: Bool = false) {
        register(op) { _, _ in
            { inputs, ctx in
                let present = inputs.compactMap { $0 }
                guard !present.isEmpty else { throw KernelError("\(op) needs at least one input") }
                return [try mathVariadic(kind, mean: mean, present, pool: ctx.pool)]
            }
        }
    }
}

/// The pre-opset-7 broadcast rule: with `broadcast=1` and `axis`, B's dims line up with A's
/// starting at `axis`, so B gets trailing 1s and NumPy broadcasting does the rest.
private struct MathLegacyBroadcast: Sendable {
    let axis: Int?

    init(node: Node, opset: Int) throws {
        if opset < 7, try node.int("broadcast", default: 0) == 1, node.attributes["axis"] != nil {
            axis = try node.int("axis")
        } else {
            axis = nil
        }
    }

    func align(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard let axis else { return b }
        guard let start = Shape.normalizeAxis(axis, rank: a.rank), start + b.rank <= a.rank else {
            throw KernelError("legacy broadcast: B \(b.shape) does not fit A \(a.shape) at axis \(axis)")
        }
        return try b.reshaped(b.shape + Array(repeating: 1, count: a.rank - start - b.rank))
    }
}
