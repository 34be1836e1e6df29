import BerthONNX
import BerthTensor

/// Turns ORT's two int8 Conv formats into one fused `QuantizedConv` (oneDNN int8 convolution,
/// weights packed once):
///
/// - dynamic: `DynamicQuantizeLinear(X) → ConvInteger(·, W) → Cast(float) → Mul(·, Mul(x_scale,
///   w_scale)) [→ Add(·, bias)]`, the bias an initializer of M values (shaped [1, M, 1, …], or
///   through a Reshape of initializers as ORT writes it);
/// - QDQ: `Conv(DequantizeLinear(QuantizeLinear(X)), DequantizeLinear(W) [, bias])`, the bias a
///   float initializer or the DequantizeLinear of an int32 one (dequantized here, once).
///
/// A Relu that alone reads the result is absorbed (attribute relu = 1).
///
/// Preconditions as ``QuantizedMatMulFusion``: W int8 (or uint8) initializer with per-tensor or
/// per-output-channel (axis 0) scales, intermediate values read by nothing else.
struct QuantizedConvFusion: OptimizerPass {
    let name = "quantized-conv-fusion"

    /// Then ``QDQPairFusion`` over the QDQ pairs no convolution took (kept here, right after the
    /// convolutions took theirs, so the pass list stays as it is).
    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        try QDQPairFusion().apply(try fuseConvolutions(graph), context: context)
    }

    private func fuseConvolutions(_ graph: Graph) throws -> Graph {
        let index = GraphIndex(graph)
        var remove = Set<Int>(), maybeDead = Set<Int>()
        var replacements: [Int: Node] = [:]
        var newInitializers: [String: Tensor] = [:]
        func free(_ i: Int) -> Bool { !remove.contains(i) && replacements[i] == nil }
        func kernel(_ name: String) -> Tensor? {
            guard let t = graph.initializers[name], t.rank >= 3, t.dtype == .int8 || t.dtype == .uint8 else { return nil }
            return t
        }
        func scales(_ name: String, m: Int) -> Tensor? {
            guard let t = graph.initializers[name], t.dtype == .float32, t.count == 1 && t.rank <= 1 || t.rank == 1 && t.count == m else { return nil }
            return t
        }
        func zeroOK(_ name: String, like scale: Tensor, dtype: DType) -> Bool {
            guard !name.isEmpty else { return true }
            guard let z = graph.initializers[name] else { return false }
            return z.dtype == dtype && z.count == scale.count
        }
        /// The M bias values `name` holds (an initializer, or a Reshape of one), as a new [M] initializer.
        func biasValues(_ name: String, m: Int, outRank: Int) -> String? {
            var t = graph.initializers[name]
            var target: [Int]?
            if t == nil, let ri = index.producer[name], graph.nodes[ri].isOp("Reshape"), graph.nodes[ri].inputs.count >= 2,
               let s = graph.initializers[graph.nodes[ri].inputs[1]] {
                t = graph.initializers[graph.nodes[ri].inputs[0]]
                target = try? s.integers()
                guard target != nil else { return nil }
                maybeDead.insert(ri)
            }
            guard let b = t, b.dtype == .float32, b.count == m else { return nil }
            // The shape the Add sees: through a Reshape its target (ORT writes [1, -1, 1, 1]: -1 takes
            // the M values, 0 copies the input's dim), else the initializer's own.
            var shape = b.shape
            if let target {
                shape = target.enumerated().map { i, d in d == -1 ? m : d == 0 ? (i < b.rank ? b.shape[i] : 0) : d }
                guard target.filter({ $0 == -1 }).count <= 1, shape.allSatisfy({ $0 >= 0 }), (try? Shape.elementCount(shape)) == m else { return nil }
            }
            // [M] or [1, M, 1, …] / [M, 1, …]: broadcasting over the output's channel axis only.
            let nonUnit = shape.enumerated().filter { $0.element != 1 }
            if m > 1 {
                guard nonUnit.count == 1, shape.count <= outRank, outRank - shape.count + nonUnit[0].offset == 1 else { return nil }
            }
            let fresh = "\(name)/channel_bias"
            newInitializers[fresh] = Tensor(unchecked: [m], storage: .float32(b.floats))
            return fresh
        }
        func attributes(_ conv: Node, dynamic: Bool, relu: Bool) -> [String: Attribute] {
            var a = conv.attributes
            a["dynamic"] = .int(dynamic ? 1 : 0)
            a["relu"] = .int(relu ? 1 : 0)
            return a
        }
        /// A free Relu that alone reads node `last`'s output: its index.
        func relu(after last: Int) -> Int? {
            guard let out = graph.nodes[last].outputs.first, let ri = index.soleConsumer(of: out), free(ri), graph.nodes[ri].isOp("Relu") else { return nil }
            return ri
        }

        for (ci, c) in graph.nodes.enumerated() where free(ci) {
            if c.isOp("ConvInteger"), c.inputs.count >= 3, let di = index.producer[c.inputs[0]], graph.nodes[di].isOp("DynamicQuantizeLinear") {
                let d = graph.nodes[di]
                guard d.outputs.count == 3, d.outputs[0] == c.inputs[0], c.inputs[2] == d.outputs[2], let w = kernel(c.inputs[1]),
                      let casti = index.soleConsumer(of: c.outputs[0]), free(casti), graph.nodes[casti].isOp("Cast"),
                      (try? graph.nodes[casti].int("to", default: 0)) == DType.float32.rawValue,
                      let ui = index.soleConsumer(of: graph.nodes[casti].outputs[0]), free(ui), graph.nodes[ui].isOp("Mul"),
                      graph.nodes[ui].inputs.count == 2 else { continue }
                let u = graph.nodes[ui], cast = graph.nodes[casti].outputs[0]
                let product = u.inputs[0] == cast ? u.inputs[1] : u.inputs[0]
                guard let si = index.producer[product], graph.nodes[si].isOp("Mul"), graph.nodes[si].inputs.count == 2 else { continue }
                let sm = graph.nodes[si]
                let wScale = sm.inputs[0] == d.outputs[1] ? sm.inputs[1] : sm.inputs[1] == d.outputs[1] ? sm.inputs[0] : ""
                // ConvInteger's product of scalars: a per-channel scale would not broadcast over [N, M, …] here.
                guard !wScale.isEmpty, let ws = scales(wScale, m: 1), ws.count == 1 else { continue }
                let wZero = c.inputs.count > 3 ? c.inputs[3] : ""
                guard zeroOK(wZero, like: ws, dtype: w.dtype) else { continue }
                var last = ui, bias = ""
                if let ai = index.soleConsumer(of: u.outputs[0]), free(ai), graph.nodes[ai].isOp("Add"), graph.nodes[ai].inputs.count == 2 {
                    let add = graph.nodes[ai]
                    let other = add.inputs[0] == u.outputs[0] ? add.inputs[1] : add.inputs[0]
                    if let b = biasValues(other, m: w.shape[0], outRank: w.rank) {
                        bias = b
                        last = ai
                    }
                }
                let r = relu(after: last)
                replacements[last] = Node(name: "\(c.name)/quantized", opType: "QuantizedConv", domain: FusedOps.domain,
                                          inputs: [d.inputs[0], "", "", c.inputs[1], wScale, wZero, bias],
                                          outputs: graph.nodes[r ?? last].outputs, attributes: attributes(c, dynamic: true, relu: r != nil))
                remove.formUnion([ci, casti, ui])
                if let r { remove.insert(r) }
                maybeDead.formUnion([di, si])
                continue
            }
            guard c.isOp("Conv"), c.inputs.count >= 2, let dxi = index.producer[c.inputs[0]], graph.nodes[dxi].isOp("DequantizeLinear"),
                  let dwi = index.producer[c.inputs[1]], graph.nodes[dwi].isOp("DequantizeLinear") else { continue }
            let dx = graph.nodes[dxi], dw = graph.nodes[dwi]
            guard dx.inputs.count >= 2, dw.inputs.count >= 2, (try? dx.int("block_size", default: 0)) == 0,
                  (try? dw.int("block_size", default: 0)) == 0,
                  let qi = index.producer[dx.inputs[0]], graph.nodes[qi].isOp("QuantizeLinear"), graph.nodes[qi].inputs.count >= 2,
                  (try? graph.nodes[qi].int("output_dtype", default: 0)) == 0 else { continue }
            let q = graph.nodes[qi]
            let xScale = dx.inputs[1], xZero = dx.inputs.count > 2 ? dx.inputs[2] : ""
            guard sameValue(q.inputs[1], xScale, graph), sameValue(q.inputs.count > 2 ? q.inputs[2] : "", xZero, graph),
                  let s = graph.initializers[xScale], s.count == 1, s.dtype == .float32,
                  xZero.isEmpty || (graph.initializers[xZero].map { $0.count == 1 && ($0.dtype == .int8 || $0.dtype == .uint8) } ?? false),
                  let w = kernel(dw.inputs[0]) else { continue }
            let m = w.shape[0]
            let wScale = dw.inputs[1], wZero = dw.inputs.count > 2 ? dw.inputs[2] : ""
            guard let ws = scales(wScale, m: m), zeroOK(wZero, like: ws, dtype: w.dtype) else { continue }
            if ws.count > 1 || ws.rank == 1 && m == 1 {
                guard let axis = try? dw.int("axis", default: 1), axis == 0 || axis == -w.rank else { continue }
            }
            var bias = ""
            if c.inputs.count > 2, !c.inputs[2].isEmpty {
                let b = c.inputs[2]
                if let t = graph.initializers[b], t.dtype == .float32, t.rank == 1, t.count == m {
                    bias = b
                } else if let bi = index.producer[b], graph.nodes[bi].isOp("DequantizeLinear"), graph.nodes[bi].inputs.count >= 2,
                          let bq = graph.initializers[graph.nodes[bi].inputs[0]], bq.dtype == .int32, bq.count == m,
                          let bs = graph.initializers[graph.nodes[bi].inputs[1]], bs.dtype == .float32, bs.count == 1 || bs.count == m,
                          graph.nodes[bi].inputs.count < 3 || graph.nodes[bi].inputs[2].isEmpty
                            || (graph.initializers[graph.nodes[bi].inputs[2]]?.doubles.allSatisfy { $0 == 0 } ?? false) {
                    // ORT's int32 bias (scale x_scale · w_scale): dequantized once, as DequantizeLinear computes it.
                    let qv = bq.doubles, sv = bs.floats
                    let fresh = "\(b)/dequantized"
                    newInitializers[fresh] = Tensor(unchecked: [m], storage: .float32((0..<m).map { Float(qv[$0]) * sv[sv.count == 1 ? 0 : $0] }))
                    bias = fresh
                    maybeDead.insert(bi)
                } else {
                    continue
                }
            }
            let r = relu(after: ci)
            replacements[ci] = Node(name: "\(c.name)/quantized", opType: "QuantizedConv", domain: FusedOps.domain,
                                    inputs: [q.inputs[0], xScale, xZero, dw.inputs[0], wScale, wZero, bias],
                                    outputs: graph.nodes[r ?? ci].outputs, attributes: attributes(c, dynamic: false, relu: r != nil))
            if let r { remove.insert(r) }
            maybeDead.formUnion([dxi, dwi, qi])
        }
        guard !replacements.isEmpty else { return graph }
        var nodes = graph.nodes.enumerated().map { i, n in replacements[i] ?? n }
        var dead = remove.subtracting(replacements.keys)
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
        var g = graph
        g.nodes = nodes
        var initializers = graph.initializers
        for (k, v) in newInitializers { initializers[k] = v }
        let used = g.consumedNames
        g.initializers = initializers.filter { used.contains($0.key) }
        return g
    }
}

/// True when two optional scalar inputs are the same value: the same name, or equal initializers.
func sameValue(_ a: String, _ b: String, _ graph: Graph) -> Bool {
    if a == b { return true }
    guard !a.isEmpty, !b.isEmpty, let x = graph.initializers[a], let y = graph.initializers[b] else { return false }
    return x.dtype == y.dtype && x.shape == y.shape && x.doubles == y.doubles
}
