import BerthONNX
import BerthTensor

/// RNN (opsets 7 and 14; 14 added `layout`): H' = f(X·Wᵀ + H·Rᵀ + Wb + Rb), f Tanh by default.
func rnnSimple(_ node: Node, opset: Int) throws -> Kernel {
    let attrs = try RNNAttributes(node, opset: opset, gates: 1, defaultActivations: ["Tanh"])
    return { inputs, _ in
        let p = try RNNProblem(inputs, attrs)
        let (seq, batch, hidden, dirs) = (p.seq, p.batch, p.hidden, p.directions)
        let state = batch * hidden
        let h0 = try p.initialState(inputs.optional(5), name: "initial_h", attrs: attrs)
        var y = [Float](repeating: 0, count: seq * dirs * state)
        var hOut = h0
        var gates = [Float](repeating: 0, count: state)
        for d in 0..<dirs {
            let fa = attrs.activations[d][0]
            let xw = p.inputProjection(direction: d, bias: p.bias(direction: d, mergeRecurrent: [0]))
            var h = Array(h0[(d * state)..<((d + 1) * state)])
            for step in 0..<seq {
                let t = attrs.reverse[d] ? seq - 1 - step : step
                gates.withUnsafeMutableBufferPointer { pg in
                    xw.withUnsafeBufferPointer { px in pg.baseAddress!.update(from: px.baseAddress! + t * state, count: state) }
                    h.withUnsafeBufferPointer { ph in
                        p.addRecurrent(ph.baseAddress!, direction: d, rowOffset: 0, n: hidden, into: pg.baseAddress!, ldc: hidden)
                    }
                }
                for b in 0..<batch where t < p.lengths[b] {
                    for j in 0..<hidden {
                        let v = fa(attrs.clipped(gates[b * hidden + j]))
                        h[b * hidden + j] = v
                        y[((t * dirs + d) * batch + b) * hidden + j] = v
                    }
                }
            }
            hOut.replaceSubrange((d * state)..<((d + 1) * state), with: h)
        }
        return p.outputs(y: y, states: [hOut], attrs: attrs)
    }
}
