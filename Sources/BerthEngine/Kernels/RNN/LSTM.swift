import BerthONNX
import BerthTensor

/// LSTM (opsets 7 and 14; 14 added `layout`). Inputs X, W, R, B, sequence_lens, initial_h,
/// initial_c, P (peepholes [dirs, 3*hidden] in i, o, f order); outputs Y, Y_h, Y_c. Gates in W,
/// R and B are ordered i, o, f, c. Per step: i = f(Xi + Hr·Ri + Pi⊙C), f = f(Xf + Hr·Rf +
/// Pf⊙C) (or 1 - i with input_forget), c = g(Xc + Hr·Rc), C' = f⊙C + i⊙c, o = f(Xo + Hr·Ro +
/// Po⊙C'), H' = o⊙h(C'). `clip` bounds each gate's whole sum (peephole term included) before its activation, as ONNX Runtime does.
func rnnLSTM(_ node: Node, opset: Int) throws -> Kernel {
    let attrs = try RNNAttributes(node, opset: opset, gates: 4, defaultActivations: ["Sigmoid", "Tanh", "Tanh"])
    let inputForget = try node.int("input_forget", default: 0) != 0
    return { inputs, _ in
        let p = try RNNProblem(inputs, attrs)
        let (seq, batch, hidden, dirs) = (p.seq, p.batch, p.hidden, p.directions)
        let gh = 4 * hidden, state = batch * hidden
        let h0 = try p.initialState(inputs.optional(5), name: "initial_h", attrs: attrs)
        let c0 = try p.initialState(inputs.optional(6), name: "initial_c", attrs: attrs)
        var peepholes: [Float]?
        if let pt = inputs.optional(7) {
            guard pt.shape == [dirs, 3 * hidden], pt.dtype == p.dtype else {
                throw KernelError("LSTM P must be \(p.dtype)[\(dirs), \(3 * hidden)], got \(pt.dtype)\(pt.shape)")
            }
            peepholes = try rnnFloats(pt)
        }
        var y = [Float](repeating: 0, count: seq * dirs * state)
        var hOut = h0, cOut = c0
        var gates = [Float](repeating: 0, count: batch * gh)
        for d in 0..<dirs {
            let act = attrs.activations[d]
            let (fa, ga, ha) = (act[0], act[1], act[2])
            let xw = p.inputProjection(direction: d, bias: p.bias(direction: d, mergeRecurrent: [0, 1, 2, 3]))
            var h = Array(h0[(d * state)..<((d + 1) * state)]), c = Array(c0[(d * state)..<((d + 1) * state)])
            let pBase = d * 3 * hidden
            for step in 0..<seq {
                let t = attrs.reverse[d] ? seq - 1 - step : step
                gates.withUnsafeMutableBufferPointer { pg in
                    xw.withUnsafeBufferPointer { px in
                        pg.baseAddress!.update(from: px.baseAddress! + t * batch * gh, count: batch * gh)
                    }
                    h.withUnsafeBufferPointer { ph in
                        p.addRecurrent(ph.baseAddress!, direction: d, rowOffset: 0, n: gh, into: pg.baseAddress!, ldc: gh)
                    }
                }
                for b in 0..<batch where t < p.lengths[b] {
                    let gb = b * gh, hb = b * hidden
                    for j in 0..<hidden {
                        let cPrev = c[hb + j]
                        var i = gates[gb + j], o = gates[gb + hidden + j], f = gates[gb + 2 * hidden + j]
                        let cc = attrs.clipped(gates[gb + 3 * hidden + j])
                        if let pp = peepholes {
                            i += pp[pBase + j] * cPrev
                            f += pp[pBase + 2 * hidden + j] * cPrev
                        }
                        let it = fa(attrs.clipped(i))
                        let ft = inputForget ? 1 - it : fa(attrs.clipped(f))
                        let cNew = ft * cPrev + it * ga(cc)
                        if let pp = peepholes { o += pp[pBase + hidden + j] * cNew }
                        let hNew = fa(attrs.clipped(o)) * ha(cNew)
                        c[hb + j] = cNew
                        h[hb + j] = hNew
                        y[((t * dirs + d) * batch + b) * hidden + j] = hNew
                    }
                }
            }
            hOut.replaceSubrange((d * state)..<((d + 1) * state), with: h)
            cOut.replaceSubrange((d * state)..<((d + 1) * state), with: c)
        }
        return p.outputs(y: y, states: [hOut, cOut], attrs: attrs)
    }
}
