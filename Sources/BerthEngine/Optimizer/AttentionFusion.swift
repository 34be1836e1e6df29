import BerthONNX

/// Fuses the multi-head self-attention block exporters write for BERT and ViT into one
/// `HeadsAttention` node (see FusedHeadsAttention.swift), as ORT's AttentionFusion does:
///
///     Qh = Transpose(Reshape(Q, q_shape), [0,2,1,3])
///     Kh = Transpose(Reshape(K, k_shape), [0,2,3,1])        (or [0,2,1,3] then [0,1,3,2])
///     Vh = Transpose(Reshape(V, v_shape), [0,2,1,3])
///     P  = Softmax(MatMul(Qh, Kh) [· c | / c], axis = last)
///     Y  = Reshape(Transpose(MatMul(P, Vh), [0,2,1,3]), out_shape)
///
/// The four Transposes become GEMM strides, the scale becomes the GEMM's alpha, and the score
/// buffer is one [S, L] matrix reused across heads. Preconditions: the reshape targets are
/// 4-element int64 initializers (the last two, heads and head size, positive), no `allowzero`,
/// the scale a scalar float initializer, Q, K and V float32 projections (MatMulBias, QuantizedMatMul, or a MatMul /
/// Add with a float32 initializer: the pass runs after MatMulAddFusion), and every intermediate value has exactly one reader and
/// is not a graph output. An additive mask between the scale and the Softmax (`Add(scores, M)`,
/// M broadcastable to [B, H, S, L]) becomes the fused node's fourth input.
struct AttentionFusion: OptimizerPass {
    let name = "attention-fusion"

    func apply(_ graph: Graph, context: OptimizerContext) throws -> Graph {
        let index = GraphIndex(graph)
        var remove = Set<Int>()
        var replacements: [Int: Node] = [:]
        let opset = context.opsetFor("") ?? 0

        /// The producer of `value` when it is an op of `type` whose output only `consumer` reads.
        func sole(_ value: String, _ type: String, readBy consumer: Int) -> Int? {
            guard let p = index.producer[value], graph.nodes[p].isOp(type), graph.nodes[p].outputs.count >= 1,
                  graph.nodes[p].outputs[0] == value, index.soleConsumer(of: value) == consumer, !remove.contains(p) else { return nil }
            return p
        }
        func perm(_ n: Node) -> [Int]? { try? n.ints("perm") }
        func reshapeTarget(_ n: Node, rank: Int) -> [Int]? {
            guard n.inputs.count == 2, (try? n.int("allowzero", default: 0)) == 0, let t = graph.initializers[n.inputs[1]],
                  t.dtype == .int64, t.rank == 1, t.count == rank, let v = try? t.integers() else { return nil }
            return v
        }
        /// `Transpose(Reshape(X, [·, ·, H, D]), perm)` read only by `consumer`: (X, target, nodes).
        func heads(_ value: String, perm want: [Int], readBy consumer: Int) -> (String, [Int], [Int])? {
            guard let ti = sole(value, "Transpose", readBy: consumer), perm(graph.nodes[ti]) == want,
                  let ri = sole(graph.nodes[ti].inputs[0], "Reshape", readBy: ti),
                  let target = reshapeTarget(graph.nodes[ri], rank: 4), target[2] > 0, target[3] > 0 else { return nil }
            return (graph.nodes[ri].inputs[0], target, [ti, ri])
        }
        /// K in [B, H, D, L] form, by one Transpose or by two.
        func keyHeads(_ value: String, readBy consumer: Int) -> (String, [Int], [Int])? {
            if let direct = heads(value, perm: [0, 2, 3, 1], readBy: consumer) { return direct }
            guard let ti = sole(value, "Transpose", readBy: consumer), perm(graph.nodes[ti]) == [0, 1, 3, 2],
                  let inner = heads(graph.nodes[ti].inputs[0], perm: [0, 2, 1, 3], readBy: ti) else { return nil }
            return (inner.0, inner.1, inner.2 + [ti])
        }

        /// Produced by a MatMulBias or QuantizedMatMul (float32 by construction) or a MatMul / Add with a float32 initializer operand.
        func isFloatProjection(_ value: String) -> Bool {
            guard let p = index.producer[value] else { return false }
            let n = graph.nodes[p]
            if (n.opType == "MatMulBias" || n.opType == "QuantizedMatMul") && n.domain == FusedOps.domain { return true }
            guard n.isOp("MatMul") || n.isOp("Add") else { return false }
            return n.inputs.contains { graph.initializers[$0]?.dtype == .float32 }
        }

        for (si, sm) in graph.nodes.enumerated() where sm.isOp("Softmax") && sm.inputs.count == 1 && sm.outputs.count == 1 {
            // The last axis; before opset 13 the default axis (1) flattens, so only an explicit last axis matches.
            guard let axis = try? sm.int("axis", default: opset >= 13 ? -1 : 1), axis == -1 || axis == 3 else { continue }
            var chain = [si]
            var scoresValue = sm.inputs[0]
            // Optional additive mask (BERT's [B, 1, 1, L] padding mask): Add(scores, mask) read only by the Softmax.
            var mask: String?
            if let ai = index.producer[scoresValue], graph.nodes[ai].isOp("Add"), graph.nodes[ai].inputs.count == 2,
               index.soleConsumer(of: scoresValue) == si, !remove.contains(ai) {
                let add = graph.nodes[ai]
                // The scores side is the one a scale or the Q·Kᵀ MatMul produces.
                // (a padding mask is often itself a Mul: (1 - m) · -10000, so look one node further).
                let scoresSide = add.inputs.firstIndex { v in
                    guard let p = index.producer[v] else { return false }
                    let n = graph.nodes[p]
                    if n.isOp("MatMul") { return true }
                    guard n.isOp("Mul") || n.isOp("Div"), n.inputs.count == 2 else { return false }
                    return n.inputs.contains { u in index.producer[u].map { graph.nodes[$0].isOp("MatMul") } ?? false }
                }
                guard let side = scoresSide, add.inputs[0] != add.inputs[1] else { continue }
                mask = add.inputs[1 - side]
                scoresValue = add.inputs[side]
                chain.append(ai)
            }
            // Optional scale: Mul or Div by a scalar float constant.
            var scale: Float = 1
            if let mi = index.producer[scoresValue], index.soleConsumer(of: scoresValue) == chain.last!, !index.graphOutputs.contains(scoresValue),
               graph.nodes[mi].isOp("Mul") || graph.nodes[mi].isOp("Div") {
                let n = graph.nodes[mi]
                guard n.inputs.count == 2 else { continue }
                let constIndex = n.isOp("Div") ? 1 : (graph.scalarConstant(n.inputs[1]) != nil ? 1 : 0)
                guard let c = graph.scalarConstant(n.inputs[constIndex]), graph.initializers[n.inputs[constIndex]]?.dtype == .float32,
                      c != 0, c.isFinite else { continue }
                scale = n.isOp("Div") ? Float(1 / c) : Float(c)
                scoresValue = n.inputs[1 - constIndex]
                chain.append(mi)
            }
            guard let qk = sole(scoresValue, "MatMul", readBy: chain.last!), graph.nodes[qk].inputs.count == 2 else { continue }
            chain.append(qk)
            guard let qh = heads(graph.nodes[qk].inputs[0], perm: [0, 2, 1, 3], readBy: qk),
                  let kh = keyHeads(graph.nodes[qk].inputs[1], readBy: qk) else { continue }
            // P · Vh
            guard let pv = index.soleConsumer(of: sm.outputs[0]), graph.nodes[pv].isOp("MatMul"), graph.nodes[pv].inputs.count == 2,
                  graph.nodes[pv].inputs[0] == sm.outputs[0], !remove.contains(pv),
                  let vh = heads(graph.nodes[pv].inputs[1], perm: [0, 2, 1, 3], readBy: pv) else { continue }
            // Transpose back and merge the heads.
            let ctxValue = graph.nodes[pv].outputs[0]
            guard let ti = index.soleConsumer(of: ctxValue), graph.nodes[ti].isOp("Transpose"), perm(graph.nodes[ti]) == [0, 2, 1, 3],
                  !remove.contains(ti), let ri = index.soleConsumer(of: graph.nodes[ti].outputs[0]), graph.nodes[ri].isOp("Reshape"),
                  graph.nodes[ri].inputs[0] == graph.nodes[ti].outputs[0], !remove.contains(ri),
                  let mergeTarget = graph.nodes[ri].inputs.count == 2 ? graph.initializers[graph.nodes[ri].inputs[1]] : nil,
                  mergeTarget.dtype == .int64, mergeTarget.rank == 1, (try? graph.nodes[ri].int("allowzero", default: 0)) == 0,
                  let outShape = try? mergeTarget.integers() else { continue }
            // The kernel is float32 only: Q, K and V must come from float32 projections.
            guard [qh.0, kh.0, vh.0].allSatisfy(isFloatProjection) else { continue }
            chain += qh.2 + kh.2 + vh.2 + [pv, ti, ri]
            guard Set(chain).count == chain.count, chain.allSatisfy({ !remove.contains($0) }) else { continue }
            remove.formUnion(chain)
            remove.remove(ri)
            replacements[ri] = Node(name: "\(sm.name)/attention", opType: "HeadsAttention", domain: FusedOps.domain,
                                    inputs: [qh.0, kh.0, vh.0] + (mask.map { [$0] } ?? []), outputs: graph.nodes[ri].outputs,
                                    attributes: ["q_shape": .ints(qh.1), "k_shape": .ints(kh.1), "v_shape": .ints(vh.1),
                                                 "out_shape": .ints(outShape), "scale": .float(scale)])
        }
        guard !replacements.isEmpty else { return graph }
        return graph.rewritten(replacing: replacements, removing: remove)
    }
}
