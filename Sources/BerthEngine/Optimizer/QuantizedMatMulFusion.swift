import BerthONNX
import BerthTensor

/// Turns the two int8 matmul formats ONNX Runtime's quantizer writes into one fused
/// `QuantizedMatMul` (int8 sums on oneDNN, weights packed once), as ORT's QDQ selectors and its
/// DynamicQuantizeMatMul fusion do:
///
/// - dynamic: `DynamicQuantizeLinear(X) → MatMulInteger(·, W) → Cast(float) → Mul(·, Mul(x_scale,
///   w_scale)) [→ Add(·, bias)]`;
/// - QDQ: `MatMul / Gemm(DequantizeLinear(QuantizeLinear(X)), DequantizeLinear(W)) [→ Add(·, bias)]`.
///
/// A Relu that is the only reader of the result is absorbed too (attribute relu = 1: oneDNN applies
/// it as a post-op).
///
/// Preconditions: W, its scale and zero point, and the bias are initializers (W a matrix, scales
/// per tensor or per output column, bias [N]); every intermediate value has no other reader except
/// the quantized activation, whose Q / DQ nodes stay while something else reads them. Runs before
/// constant folding, which would otherwise turn `DequantizeLinear(W)` back into a float weight.
struct QuantizedMatMulFusion: OptimizerPass {
    let name = "quantized-matmul-fusion"

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        let index = GraphIndex(graph)
        var remove = Set<Int>()
        var maybeDead = Set<Int>()
        var replacements: [Int: Node] = [:]
        func free(_ i: Int) -> Bool { !remove.contains(i) && replacements[i] == nil }
        func int8Matrix(_ name: String) -> Tensor? {
            guard let t = graph.initializers[name], t.rank == 2, t.dtype == .int8 || t.dtype == .uint8 else { return nil }
            return t
        }
        func floatVector(_ name: String, count n: Int) -> Bool {
            guard let t = graph.initializers[name], t.dtype == .float32 else { return false }
            return t.count == 1 && t.rank <= 1 || t.rank == 1 && t.count == n
        }
        func zeroPoint(_ name: String?, like scale: String, dtype: DType?) -> Bool {
            guard let name, !name.isEmpty else { return true }
            guard let z = graph.initializers[name], let s = graph.initializers[scale], z.shape == s.shape else { return false }
            return dtype == nil || z.dtype == dtype
        }
        /// An Add of a [N] float initializer as the only reader of `value`: (node index, bias name).
        func biasAdd(after value: String, n: Int) -> (Int, String)? {
            guard let ai = index.soleConsumer(of: value), free(ai), graph.nodes[ai].isOp("Add"), graph.nodes[ai].inputs.count == 2 else { return nil }
            let add = graph.nodes[ai]
            let other = add.inputs[0] == value ? add.inputs[1] : add.inputs[0]
            guard let b = graph.initializers[other], b.dtype == .float32, b.rank == 1, b.count == n else { return nil }
            return (ai, other)
        }

        /// A free Relu that alone reads node `last`'s output: its index.
        func relu(after last: Int) -> Int? {
            guard let out = graph.nodes[last].outputs.first, let ri = index.soleConsumer(of: out), free(ri), graph.nodes[ri].isOp("Relu") else { return nil }
            return ri
        }

        for (mi, m) in graph.nodes.enumerated() where free(mi) {
            // Dynamic: DynamicQuantizeLinear → MatMulInteger → Cast → Mul [→ Add].
            if m.isOp("MatMulInteger"), m.inputs.count >= 3, let di = index.producer[m.inputs[0]], graph.nodes[di].isOp("DynamicQuantizeLinear") {
                let d = graph.nodes[di]
                guard d.outputs.count == 3, d.outputs[0] == m.inputs[0], m.inputs[2] == d.outputs[2], let w = int8Matrix(m.inputs[1]),
                      let ci = index.soleConsumer(of: m.outputs[0]), free(ci), graph.nodes[ci].isOp("Cast"),
                      (try? graph.nodes[ci].int("to", default: 0)) == DType.float32.rawValue,
                      let ui = index.soleConsumer(of: graph.nodes[ci].outputs[0]), free(ui), graph.nodes[ui].isOp("Mul"),
                      graph.nodes[ui].inputs.count == 2 else { continue }
                let u = graph.nodes[ui], cast = graph.nodes[ci].outputs[0]
                let scaleProduct = u.inputs[0] == cast ? u.inputs[1] : u.inputs[0]
                guard let si = index.producer[scaleProduct], graph.nodes[si].isOp("Mul"), graph.nodes[si].inputs.count == 2 else { continue }
                let sm = graph.nodes[si]
                let wScale = sm.inputs[0] == d.outputs[1] ? sm.inputs[1] : sm.inputs[1] == d.outputs[1] ? sm.inputs[0] : ""
                let n = w.shape[1]
                guard !wScale.isEmpty, floatVector(wScale, count: n) else { continue }
                let wZero = m.inputs.count > 3 ? m.inputs[3] : ""
                if !wZero.isEmpty { guard zeroPoint(wZero, like: wScale, dtype: w.dtype) else { continue } }
                let add = biasAdd(after: u.outputs[0], n: n)
                let last = add?.0 ?? ui
                let r = relu(after: last)
                // A quantized activation several matmuls read (a transformer's Q, K and V) is quantized
                // once by the DynamicQuantizeLinear that stays; each fused node reads its outputs (dynamic = 2).
                let shared = (index.consumers[d.outputs[0]]?.count ?? 0) > 1
                replacements[last] = Node(name: "\(m.name)/quantized", opType: "QuantizedMatMul", domain: FusedOps.domain,
                                          inputs: shared ? [d.outputs[0], d.outputs[1], d.outputs[2], m.inputs[1], wScale, wZero, add?.1 ?? ""]
                                                         : [d.inputs[0], "", "", m.inputs[1], wScale, wZero, add?.1 ?? ""],
                                          outputs: graph.nodes[r ?? last].outputs,
                                          attributes: ["dynamic": .int(shared ? 2 : 1), "relu": .int(r == nil ? 0 : 1)])
                remove.formUnion([mi, ci, ui])
                if let r { remove.insert(r) }
                maybeDead.formUnion([di, si])
                continue
            }
            // QDQ: MatMul / Gemm over DequantizeLinear inputs.
            guard m.isOp("MatMul") || m.isOp("Gemm"), m.inputs.count >= 2,
                  let dxi = index.producer[m.inputs[0]], graph.nodes[dxi].isOp("DequantizeLinear"),
                  let dwi = index.producer[m.inputs[1]], graph.nodes[dwi].isOp("DequantizeLinear") else { continue }
            let dx = graph.nodes[dxi], dw = graph.nodes[dwi]
            guard dx.inputs.count >= 2, dw.inputs.count >= 2, (try? dx.int("block_size", default: 0)) == 0, (try? dw.int("block_size", default: 0)) == 0,
                  let qi = index.producer[dx.inputs[0]], graph.nodes[qi].isOp("QuantizeLinear") else { continue }
            let q = graph.nodes[qi]
            let xScale = dx.inputs[1], xZero = dx.inputs.count > 2 ? dx.inputs[2] : ""
            // The Q and DQ of X must use the same scale and zero point (by name, or equal values).
            guard q.inputs.count >= 2, sameValue(q.inputs[1], xScale, graph), sameValue(q.inputs.count > 2 ? q.inputs[2] : "", xZero, graph),
                  (try? q.int("output_dtype", default: 0)) == 0,
                  let s = graph.initializers[xScale], s.count == 1, s.dtype == .float32,
                  xZero.isEmpty || (graph.initializers[xZero].map { $0.count == 1 && ($0.dtype == .int8 || $0.dtype == .uint8) } ?? false),
                  let w = int8Matrix(dw.inputs[0]) else { continue }
            var transB = false
            var bias: (Int?, String) = (nil, "")
            if m.isOp("Gemm") {
                let alpha = (try? m.float("alpha", default: 1)) ?? 0, beta = (try? m.float("beta", default: 1)) ?? 0
                guard alpha == 1, (try? m.int("transA", default: 0)) == 0 else { continue }
                transB = (try? m.int("transB", default: 0)) != 0
                if m.inputs.count > 2, !m.inputs[2].isEmpty {
                    guard beta == 1, let b = graph.initializers[m.inputs[2]], b.dtype == .float32, b.rank == 1,
                          b.count == (transB ? w.shape[0] : w.shape[1]) else { continue }
                    bias = (nil, m.inputs[2])
                }
            }
            let n = transB ? w.shape[0] : w.shape[1]
            let wScale = dw.inputs[1], wZero = dw.inputs.count > 2 ? dw.inputs[2] : ""
            guard floatVector(wScale, count: n), zeroPoint(wZero, like: wScale, dtype: w.dtype) else { continue }
            if let sc = graph.initializers[wScale], sc.count > 1 || n == 1 && sc.rank == 1 {
                // Per-channel: DequantizeLinear's axis must be W's output axis.
                guard let axis = try? dw.int("axis", default: 1) else { continue }
                let normalized = axis < 0 ? axis + 2 : axis
                guard normalized == (transB ? 0 : 1) else { continue }
            }
            if m.isOp("MatMul"), let add = biasAdd(after: m.outputs[0], n: n) { bias = (add.0, add.1) }
            let last = bias.0 ?? mi
            let r = relu(after: last)
            replacements[last] = Node(name: "\(m.name)/quantized", opType: "QuantizedMatMul", domain: FusedOps.domain,
                                      inputs: [q.inputs[0], xScale, xZero, dw.inputs[0], wScale, wZero, bias.1],
                                      outputs: graph.nodes[r ?? last].outputs,
                                      attributes: ["dynamic": .int(0), "transB": .int(transB ? 1 : 0), "relu": .int(r == nil ? 0 : 1)])
            remove.insert(mi)
            if let r { remove.insert(r) }
            maybeDead.formUnion([dxi, dwi, qi])
        }
        guard !replacements.isEmpty else { return graph }
        var g = graph
        var nodes = graph.nodes.enumerated().map { i, n in replacements[i] ?? n }
        var dead = remove.subtracting(replacements.keys)
        // Drop the quantize / dequantize nodes nothing reads any more (outputs first, then inputs).
        var changed = true
        while changed {
            changed = false
            var read = Set(graph.outputs.map(\.name))
            for (i, n) in nodes.enumerated() where !dead.contains(i) {
                read.formUnion(n.inputs)
                read.formUnion(n.outerScopeReads)
            }
            for i in maybeDead where !dead.contains(i) && !nodes[i].outputs.contains(where: { !$0.isEmpty && read.contains($0) }) {
                dead.insert(i)
                changed = true
            }
        }
        nodes = nodes.enumerated().compactMap { i, n in dead.contains(i) ? nil : n }
        g.nodes = nodes
        let used = g.consumedNames
        g.initializers = graph.initializers.filter { used.contains($0.key) }
        return g
    }
}
