import BerthONNX
import BerthTensor

/// GRU (opsets 7 and 14; 14 added `layout`). Gates in W, R and B are ordered z, r, h. Per step:
/// z = f(Xz + H·Rzᵀ + Wbz + Rbz), r = f(Xr + H·Rrᵀ + Wbr + Rbr), and the candidate
/// h = g(Xh + (r⊙H)·Rhᵀ + Rbh + Wbh) with linear_before_reset = 0, or
/// h = g(Xh + r⊙(H·Rhᵀ + Rbh) + Wbh) with 1; H' = (1 - z)⊙h + z⊙H.
func rnnGRU(_ node: Node, opset: Int) throws -> Kernel {
    let attrs = try RNNAttributes(node, opset: opset, gates: 3, defaultActivations: ["Sigmoid", "Tanh"])
    let linearBeforeReset = try node.int("linear_before_reset", default: 0) != 0
    return { inputs, _ in
        let p = try RNNProblem(inputs, attrs)
        let (seq, batch, hidden, dirs) = (p.seq, p.batch, p.hidden, p.directions)
        let gh = 3 * hidden, state = batch * hidden
        let h0 = try p.initialState(inputs.optional(5), name: "initial_h", attrs: attrs)
        var y = [Float](repeating: 0, count: seq * dirs * state)
        var hOut = h0
        var gates = [Float](repeating: 0, count: batch * gh)
        var candidate = [Float](repeating: 0, count: state)  // the recurrent part of the h gate
        var reset = [Float](repeating: 0, count: state)      // r⊙H (linear_before_reset = 0)
        for d in 0..<dirs {
            let (fa, ga) = (attrs.activations[d][0], attrs.activations[d][1])
            // Rbz and Rbr join the projection; Rbh stays apart (inside r⊙(…) for linear_before_reset).
            let xw = p.inputProjection(direction: d, bias: p.bias(direction: d, mergeRecurrent: [0, 1]))
            let rbh = p.recurrentBias(direction: d, gate: 2)
            var h = Array(h0[(d * state)..<((d + 1) * state)])
            for step in 0..<seq {
                let t = attrs.reverse[d] ? seq - 1 - step : step
                gates.withUnsafeMutableBufferPointer { pg in
                    xw.withUnsafeBufferPointer { px in
                        pg.baseAddress!.update(from: px.baseAddress! + t * batch * gh, count: batch * gh)
                    }
                    h.withUnsafeBufferPointer { ph in
                        p.addRecurrent(ph.baseAddress!, direction: d, rowOffset: 0, n: 2 * hidden, into: pg.baseAddress!, ldc: gh)
                    }
                }
                // z and r after their activation, in place.
                for b in 0..<batch {
                    for j in 0..<(2 * hidden) { gates[b * gh + j] = fa(attrs.clipped(gates[b * gh + j])) }
                    for j in 0..<hidden {
                        candidate[b * hidden + j] = rbh[j]
                        reset[b * hidden + j] = gates[b * gh + hidden + j] * h[b * hidden + j]
                    }
                }
                candidate.withUnsafeMutableBufferPointer { pc in
                    (linearBeforeReset ? h : reset).withUnsafeBufferPointer { ph in
                        p.addRecurrent(ph.baseAddress!, direction: d, rowOffset: 2 * hidden, n: hidden, into: pc.baseAddress!, ldc: hidden)
                    }
                }
                for b in 0..<batch where t < p.lengths[b] {
                    let gb = b * gh, hb = b * hidden
                    for j in 0..<hidden {
                        let z = gates[gb + j], r = gates[gb + hidden + j]
                        let rec = linearBeforeReset ? r * candidate[hb + j] : candidate[hb + j]
                        let hh = ga(attrs.clipped(gates[gb + 2 * hidden + j] + rec))
                        let hNew = (1 - z) * hh + z * h[hb + j]
                        h[hb + j] = hNew
                        y[((t * dirs + d) * batch + b) * hidden + j] = hNew
                    }
                }
            }
            hOut.replaceSubrange((d * state)..<((d + 1) * state), with: h)
        }
        return p.outputs(y: y, states: [hOut], attrs: attrs)
    }
}
