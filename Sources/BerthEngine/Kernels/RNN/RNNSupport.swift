import BerthONNX
import BerthTensor
import Foundation

// What LSTM, GRU and RNN share: attributes (direction, activations, clip, layout), the shape
// checks of X / W / R / B / sequence_lens / initial_h, the input projection x·Wᵀ for every
// timestep at once, the per-step h·Rᵀ, and the output layouts. They compute in float32
// (float16 and double inputs are converted, as the conformance data and exporters use float).

/// One gate activation of the ONNX RNN operators, with its alpha and beta.
enum RNNActivation: Sendable {
    case relu, tanh, sigmoid, softsign, softplus
    case affine(Float, Float), leakyRelu(Float), thresholdedRelu(Float), scaledTanh(Float, Float)
    case hardSigmoid(Float, Float), elu(Float)

    @inline(__always)
    func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .relu: return max(0, x)
        case .tanh: return Foundation.tanh(x)
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .softsign: return x / (1 + abs(x))
        case .softplus: return Foundation.log1p(Foundation.exp(x))
        case let .affine(a, b): return a * x + b
        case let .leakyRelu(a): return x >= 0 ? x : a * x
        case let .thresholdedRelu(a): return x > a ? x : 0
        case let .scaledTanh(a, b): return a * Foundation.tanh(b * x)
        case let .hardSigmoid(a, b): return max(0, min(1, a * x + b))
        case let .elu(a): return x >= 0 ? x : a * (Foundation.exp(x) - 1)
        }
    }

    /// Parses `activations` with `activation_alpha` / `activation_beta`, which are consumed in
    /// order by the functions that take them (as ONNX Runtime reads them); a function whose
    /// value is not listed gets the ONNX default.
    static func parse(_ names: [String], alphas: [Float], betas: [Float]) throws -> [RNNActivation] {
        var ai = alphas.makeIterator(), bi = betas.makeIterator()
        return try names.map { name in
            switch name.lowercased() {
            case "relu": return .relu
            case "tanh": return .tanh
            case "sigmoid": return .sigmoid
            case "softsign": return .softsign
            case "softplus": return .softplus
            case "affine": return .affine(ai.next() ?? 1, bi.next() ?? 0)
            case "leakyrelu": return .leakyRelu(ai.next() ?? 0.01)
            case "thresholdedrelu": return .thresholdedRelu(ai.next() ?? 1)
            case "scaledtanh": return .scaledTanh(ai.next() ?? 1, bi.next() ?? 1)
            case "hardsigmoid": return .hardSigmoid(ai.next() ?? 0.2, bi.next() ?? 0.5)
            case "elu": return .elu(ai.next() ?? 1)
            default: throw KernelError("unsupported activation '\(name)'")
            }
        }
    }
}

/// The attributes every RNN operator has, parsed at plan time.
struct RNNAttributes: Sendable {
    let op: String
    /// Gate blocks in W and R (LSTM 4, GRU 3, RNN 1).
    let gates: Int
    let hiddenSize: Int?
    /// One entry per direction: true runs from the last timestep to the first.
    let reverse: [Bool]
    /// The activations of each direction (`perDirection` of them).
    let activations: [[RNNActivation]]
    let clip: Float?
    /// 0: X [seq, batch, input]; 1: X [batch, seq, input] (opset 14).
    let layout: Int

    init(_ node: Node, opset: Int, gates: Int, defaultActivations: [String]) throws {
        op = node.opType
        self.gates = gates
        let h = try node.int("hidden_size", default: -1)
        if h != -1, h <= 0 { throw KernelError("\(node.opType) hidden_size must be positive, got \(h)") }
        hiddenSize = h == -1 ? nil : h
        switch try node.string("direction", default: "forward") {
        case "forward": reverse = [false]
        case "reverse": reverse = [true]
        case "bidirectional": reverse = [false, true]
        case let d: throw KernelError("\(node.opType) direction must be forward, reverse or bidirectional, got '\(d)'")
        }
        let perDirection = defaultActivations.count
        var names = try node.strings("activations") ?? []
        if names.isEmpty { names = Array(Array(repeating: defaultActivations, count: reverse.count).joined()) }
        // One direction's list given for a bidirectional node applies to both (ONNX Runtime).
        if names.count == perDirection && reverse.count == 2 { names += names }
        guard names.count == perDirection * reverse.count else {
            throw KernelError("\(node.opType) needs \(perDirection) activations per direction (\(perDirection * reverse.count) in all), got \(names.count)")
        }
        let all = try RNNActivation.parse(names, alphas: try node.floats("activation_alpha") ?? [], betas: try node.floats("activation_beta") ?? [])
        activations = (0..<reverse.count).map { Array(all[($0 * perDirection)..<(($0 + 1) * perDirection)]) }
        let c = try node.float("clip", default: 0)
        if node.attributes["clip"] != nil, !(c > 0) { throw KernelError("\(node.opType) clip must be positive, got \(c)") }
        clip = node.attributes["clip"] == nil ? nil : c
        layout = opset >= 14 ? try node.int("layout", default: 0) : 0
        guard layout == 0 || layout == 1 else { throw KernelError("\(node.opType) layout must be 0 or 1, got \(layout)") }
    }

    /// Clips a gate pre-activation when `clip` is set.
    @inline(__always)
    func clipped(_ x: Float) -> Float {
        guard let clip else { return x }
        return min(clip, max(-clip, x))
    }
}

/// The checked sizes of one RNN call and its inputs as float32, in layout 0.
struct RNNProblem {
    let seq: Int, batch: Int, input: Int, hidden: Int, directions: Int, gates: Int
    /// X as [seq, batch, input].
    let x: [Float]
    /// W [directions, gates * hidden, input] and R [directions, gates * hidden, hidden].
    let w: [Float], r: [Float]
    /// B [directions, 2 * gates * hidden] (zeros when absent).
    let b: [Float]
    /// Per batch entry, the timesteps to run.
    let lengths: [Int]
    let dtype: DType

    init(_ inputs: [Tensor?], _ attrs: RNNAttributes) throws {
        let op = attrs.op, g = attrs.gates
        gates = g
        let xt = try inputs.required(0), wt = try inputs.required(1), rt = try inputs.required(2)
        guard xt.rank == 3 else { throw KernelError("\(op) X must be 3-D, got shape \(xt.shape)") }
        dtype = xt.dtype
        guard [DType.float32, .float16, .float64].contains(dtype) else { throw KernelError("\(op) does not support dtype \(dtype)") }
        let typed: [(String, Tensor?)] = [("W", wt), ("R", rt), ("B", inputs.optional(3)), ("initial_h", inputs.optional(5))]
        for case let (name, t?) in typed where t.dtype != dtype {
            throw KernelError("\(op) \(name) is \(t.dtype); X is \(dtype)")
        }
        (seq, batch) = attrs.layout == 0 ? (xt.shape[0], xt.shape[1]) : (xt.shape[1], xt.shape[0])
        input = xt.shape[2]
        directions = attrs.reverse.count
        guard rt.rank == 3, rt.shape[0] == directions, rt.shape[1] % g == 0 else {
            throw KernelError("\(op) R must be [\(directions), \(g)*hidden_size, hidden_size], got shape \(rt.shape)")
        }
        hidden = rt.shape[2]
        if let h = attrs.hiddenSize, h != hidden { throw KernelError("\(op) hidden_size is \(h) but R has shape \(rt.shape)") }
        let (gh, gOverflow) = g.multipliedReportingOverflow(by: hidden)
        guard !gOverflow, rt.shape[1] == gh else {
            throw KernelError("\(op) R must be [\(directions), \(g)*\(hidden), \(hidden)], got shape \(rt.shape)")
        }
        guard wt.shape == [directions, gh, input] else {
            throw KernelError("\(op) W must be [\(directions), \(gh), \(input)] (directions, \(g)*hidden_size, input_size), got shape \(wt.shape)")
        }
        // The largest buffers: the projection [seq, batch, gates*hidden] and Y [seq, dirs, batch, hidden].
        _ = try Shape.elementCount([seq, batch, g, hidden])
        _ = try Shape.elementCount([seq, directions, batch, hidden])
        guard batch <= Int(Int32.max), gh <= Int(Int32.max), input <= Int(Int32.max) else {
            throw KernelError("\(op) dimensions too large for BLAS")
        }
        var xs = try rnnFloats(xt)
        if attrs.layout == 1 { xs = rnnSwapLeadingAxes(xs, seq: batch, batch: seq, width: input) }
        x = xs
        w = try rnnFloats(wt)
        r = try rnnFloats(rt)
        if let bt = inputs.optional(3) {
            guard bt.shape == [directions, 2 * gh] else {
                throw KernelError("\(op) B must be [\(directions), \(2 * gh)], got shape \(bt.shape)")
            }
            b = try rnnFloats(bt)
        } else {
            b = [Float](repeating: 0, count: directions * 2 * gh)
        }
        if let sl = inputs.optional(4) {
            let l = try sl.integers()
            let (n, s) = (batch, seq)
            guard sl.rank == 1, l.count == n, l.allSatisfy({ (0...s).contains($0) }) else {
                throw KernelError("\(op) sequence_lens must be [\(n)] lengths in 0...\(s), got \(sl)")
            }
            lengths = l
        } else {
            lengths = [Int](repeating: seq, count: batch)
        }
    }

    /// An initial state (initial_h, initial_c) as [directions, batch, hidden], zeros when absent.
    func initialState(_ t: Tensor?, name: String, attrs: RNNAttributes) throws -> [Float] {
        guard let t else { return [Float](repeating: 0, count: directions * batch * hidden) }
        let want = attrs.layout == 0 ? [directions, batch, hidden] : [batch, directions, hidden]
        guard t.shape == want else { throw KernelError("\(attrs.op) \(name) must have shape \(want), got \(t.shape)") }
        let v = try rnnFloats(t)
        return attrs.layout == 0 ? v : rnnSwapLeadingAxes(v, seq: batch, batch: directions, width: hidden)
    }

    /// x·Wᵀ for every timestep of direction `d` at once, plus `bias` ([gates*hidden]):
    /// [seq * batch, gates * hidden].
    func inputProjection(direction d: Int, bias: [Float]) -> [Float] {
        let gh = gates * hidden, rows = seq * batch
        var out = [Float](repeating: 0, count: rows * gh)
        guard rows > 0 else { return out }
        out.withUnsafeMutableBufferPointer { o in
            for row in 0..<rows { for j in 0..<gh { o[row * gh + j] = bias[j] } }
            guard input > 0 else { return }
            x.withUnsafeBufferPointer { px in
                w.withUnsafeBufferPointer { pw in
                    BLAS.sgemm(transA: false, transB: true, m: rows, n: gh, k: input, alpha: 1, a: px.baseAddress!, lda: input,
                               b: pw.baseAddress! + d * gh * input, ldb: input, beta: 1, c: o.baseAddress!, ldc: gh)
                }
            }
        }
        return out
    }

    /// `c[batch, n] += h[batch, hidden] · Rᵀ` for rows `rowOffset ..< rowOffset + n` of
    /// direction `d`'s R (R is [gates*hidden, hidden]; a block of gate rows is a plain offset).
    func addRecurrent(_ h: UnsafePointer<Float>, direction d: Int, rowOffset: Int, n: Int, into c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard batch > 0, hidden > 0, n > 0 else { return }
        let gh = gates * hidden
        r.withUnsafeBufferPointer { pr in
            BLAS.sgemm(transA: false, transB: true, m: batch, n: n, k: hidden, alpha: 1, a: h, lda: hidden,
                       b: pr.baseAddress! + (d * gh + rowOffset) * hidden, ldb: hidden, beta: 1, c: c, ldc: ldc)
        }
    }

    /// Wb + Rb of direction `d` for the gates in `merged` (gate indices), zero for the others.
    func bias(direction d: Int, mergeRecurrent merged: Set<Int>) -> [Float] {
        let gh = gates * hidden, base = d * 2 * gh
        return (0..<gh).map { j in b[base + j] + (merged.contains(j / hidden) ? b[base + gh + j] : 0) }
    }

    /// Rb of direction `d` for gate `gate`: [hidden].
    func recurrentBias(direction d: Int, gate: Int) -> [Float] {
        let gh = gates * hidden, base = d * 2 * gh + gh + gate * hidden
        return Array(b[base..<(base + hidden)])
    }

    /// Tensors of `dtype` from float32 results in layout 0: Y [seq, dirs, batch, hidden] and a
    /// state [dirs, batch, hidden], moved to layout 1 when asked.
    func outputs(y: [Float], states: [[Float]], attrs: RNNAttributes) -> [Tensor] {
        let yShape = attrs.layout == 0 ? [seq, directions, batch, hidden] : [batch, seq, directions, hidden]
        var yv = y
        if attrs.layout == 1 {
            // [seq, dirs, batch, hidden] → [batch, seq, dirs, hidden]
            yv = [Float](repeating: 0, count: y.count)
            for t in 0..<seq { for d in 0..<directions { for bb in 0..<batch {
                let src = ((t * directions + d) * batch + bb) * hidden, dst = ((bb * seq + t) * directions + d) * hidden
                for j in 0..<hidden { yv[dst + j] = y[src + j] }
            } } }
        }
        var out = [rnnTensor(yShape, yv, dtype)]
        for s in states {
            out.append(attrs.layout == 0 ? rnnTensor([directions, batch, hidden], s, dtype)
                : rnnTensor([batch, directions, hidden], rnnSwapLeadingAxes(s, seq: directions, batch: batch, width: hidden), dtype))
        }
        return out
    }
}

/// The elements of a float32, float16 or double tensor as float32.
func rnnFloats(_ t: Tensor) throws -> [Float] {
    switch t.storage {
    case let .float32(v): return v
    case let .float16(v): return v.map(Float.init)
    case let .float64(v): return v.map { Float($0) }
    default: throw KernelError("expected a floating-point tensor, got \(t.dtype)")
    }
}

/// A tensor of `dtype` (float32, float16 or double) from float32 values.
func rnnTensor(_ shape: [Int], _ v: [Float], _ dtype: DType) -> Tensor {
    switch dtype {
    case .float16: return Tensor(unchecked: shape, storage: .float16(v.map { Float16($0) }))
    case .float64: return Tensor(unchecked: shape, storage: .float64(v.map { Double($0) }))
    default: return Tensor(unchecked: shape, storage: .float32(v))
    }
}

/// [a, b, width] → [b, a, width].
func rnnSwapLeadingAxes(_ v: [Float], seq a: Int, batch b: Int, width: Int) -> [Float] {
    var out = [Float](repeating: 0, count: v.count)
    for i in 0..<a { for j in 0..<b {
        let src = (i * b + j) * width, dst = (j * a + i) * width
        for k in 0..<width { out[dst + k] = v[src + k] }
    } }
    return out
}
