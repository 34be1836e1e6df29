import BerthONNX
import BerthTensor
import COpenBLAS
import Foundation

/// Least-squares reconstruction after structured pruning, without fine-tuning (He et al. 2017,
/// "Channel Pruning for Accelerating Very Deep Neural Networks"; ThiNet): a layer that lost input
/// channels gets new weights and bias that best reproduce, on calibration data, the output the
/// original model gave for its kept units. The layers are visited in graph order and each sees
/// the already pruned and reconstructed layers before it, so errors do not pile up.
///
/// One ridge-regularised linear solve per layer, `[X 1]ᵀ[X 1] θ = [X 1]ᵀ Y` (X the layer's input
/// in the pruned model — im2col rows for a Conv — and Y the original output), by Cholesky in
/// double precision. A layer keeps its plainly sliced weights when the solve does not lower the
/// squared error on the data, when it is too large (more than ``maxColumns`` unknowns per unit),
/// or when it is not a plain 2-D Conv, MatMul or Gemm with alpha = beta = 1.
enum WeightReconstruction {
    /// At most this many rows of X (an even stride through the data) enter the solve.
    static let maxRows = 65_536
    static let maxColumns = 4_096

    /// A layer whose input channels were pruned.
    struct Layer {
        var node: Int
        var label: String
        var input: String
        /// The original output the layer must reproduce (for a MatMul followed by a per-unit Add: the Add's).
        var target: String
        var weight: String
        /// The weight's output-unit axis (0 for Conv and transB Gemm, 1 for MatMul / Gemm).
        var unitAxis: Int
        /// The bias initializer (per output unit), if there is one to rewrite.
        var bias: String?
        /// Conv geometry (nil for dense layers).
        var conv: ConvGeometry?
    }

    struct ConvGeometry {
        var kernel: [Int], strides: [Int], dilations: [Int], padsBegin: [Int]
    }

    /// What one layer's solve achieved: mean squared error of the sliced weights → reconstructed.
    struct Outcome: Sendable {
        var layer: String
        var errorBefore: Double
        var errorAfter: Double
        var applied: Bool
    }

    /// Layers of `graph` whose weight in `arrays` is narrower on its input axis than in `original`.
    static func layers(graph: Onnx_GraphProto, original: [String: [Int]], arrays: [String: FloatArray]) -> [Layer] {
        var consumers: [String: [Int]] = [:], uses: [String: Int] = [:]
        for (i, n) in graph.node.enumerated() { for x in n.input where !x.isEmpty { consumers[x, default: []].append(i); uses[x, default: 0] += 1 } }
        let outputs = Set(graph.output.map(\.name))
        func attr(_ n: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? { n.attribute.first { $0.name == name } }
        var out: [Layer] = []
        for (i, n) in graph.node.enumerated() where n.domain.isEmpty && n.input.count >= 2 && n.output.count >= 1 {
            let w = n.input[1]
            guard let now = arrays[w]?.shape, let before = original[w], now.count == before.count, uses[w] == 1 else { continue }
            let label = n.name.isEmpty ? "\(n.opType) → \(n.output[0])" : n.name
            switch n.opType {
            case "Conv":
                guard now.count == 4, (attr(n, "group")?.i ?? 1) == 1, now[1] < before[1] else { continue }
                let autoPad = attr(n, "auto_pad").map { String(decoding: $0.s, as: UTF8.self) } ?? "NOTSET"
                guard autoPad == "NOTSET" || autoPad.isEmpty else { continue }
                let k = Array(now[2...])
                let strides = attr(n, "strides")?.ints.map { Int($0) } ?? [1, 1]
                let dilations = attr(n, "dilations")?.ints.map { Int($0) } ?? [1, 1]
                let pads = attr(n, "pads")?.ints.map { Int($0) } ?? [0, 0, 0, 0]
                guard strides.count == 2, dilations.count == 2, pads.count == 4 else { continue }
                var bias: String? = nil
                if n.input.count > 2, !n.input[2].isEmpty {
                    guard uses[n.input[2]] == 1, arrays[n.input[2]]?.shape == [now[0]] else { continue }
                    bias = n.input[2]
                }
                out.append(Layer(node: i, label: label, input: n.input[0], target: n.output[0], weight: w, unitAxis: 0, bias: bias,
                                 conv: ConvGeometry(kernel: k, strides: strides, dilations: dilations, padsBegin: Array(pads[..<2]))))
            case "Gemm":
                guard now.count == 2, (attr(n, "transA")?.i ?? 0) == 0, (attr(n, "alpha")?.f ?? 1) == 1, (attr(n, "beta")?.f ?? 1) == 1 else { continue }
                let transB = (attr(n, "transB")?.i ?? 0) != 0
                guard now[transB ? 1 : 0] < before[transB ? 1 : 0] else { continue }
                let units = now[transB ? 0 : 1]
                var bias: String? = nil
                if n.input.count > 2, !n.input[2].isEmpty {
                    guard uses[n.input[2]] == 1, let b = arrays[n.input[2]], b.values.count == units, b.shape.last == units else { continue }
                    bias = n.input[2]
                }
                out.append(Layer(node: i, label: label, input: n.input[0], target: n.output[0], weight: w, unitAxis: transB ? 0 : 1, bias: bias, conv: nil))
            case "MatMul":
                guard now.count == 2, now[0] < before[0] else { continue }
                var target = n.output[0], bias: String? = nil
                if !outputs.contains(target), let c = consumers[target], c.count == 1, graph.node[c[0]].opType == "Add", graph.node[c[0]].input.count == 2 {
                    let add = graph.node[c[0]]
                    let other = add.input[0] == target ? add.input[1] : add.input[0]
                    if uses[other] == 1, let b = arrays[other], b.values.count == now[1], b.shape.last == now[1] {
                        bias = other
                        target = add.output[0]
                    }
                }
                out.append(Layer(node: i, label: label, input: n.input[0], target: target, weight: w, unitAxis: 1, bias: bias, conv: nil))
            default:
                continue
            }
        }
        return out
    }

    /// Solves for `layer`'s weights (and bias) from its input `x` in the pruned model and the
    /// original output `y` of its kept units (`keep`: the kept output units, nil: all). Rewrites
    /// `arrays` when it lowers the error; returns what happened, nil when the data do not fit.
    static func reconstruct(_ layer: Layer, x: Tensor, y: Tensor, keep: [Int]?, arrays: inout [String: FloatArray]) -> Outcome? {
        guard let w = arrays[layer.weight] else { return nil }
        let units = w.shape[layer.unitAxis]
        // Rows of X [rows, d] and Y [rows, units].
        let xr: [Double], yr: [Double], rows: Int, d: Int
        if let g = layer.conv {
            guard x.rank == 4, y.rank == 4, x.shape[1] == w.shape[1], x.shape[0] == y.shape[0] else { return nil }
            let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let (oh, ow) = (y.shape[2], y.shape[3])
            let (kh, kw) = (g.kernel[0], g.kernel[1])
            d = c * kh * kw
            let total = n * oh * ow
            guard d <= maxColumns, total > 0 else { return nil }
            let step = max(1, (total + maxRows - 1) / maxRows)
            rows = (total + step - 1) / step
            let xv = x.floats, yv = y.floats
            let ym = y.shape[1]
            guard ym >= units, keep.map({ $0.count == units && ($0.last ?? 0) < ym }) ?? (ym == units) else { return nil }
            var xs = [Double](repeating: 0, count: rows * d), ys = [Double](repeating: 0, count: rows * units)
            xs.withUnsafeMutableBufferPointer { xp in
                ys.withUnsafeMutableBufferPointer { yp in
                    xv.withUnsafeBufferPointer { xin in
                        yv.withUnsafeBufferPointer { yin in
                            var r = 0
                            for flat in stride(from: 0, to: total, by: step) {
                                let b = flat / (oh * ow), p = flat % (oh * ow), oy = p / ow, ox = p % ow
                                for ci in 0..<c {
                                    for i in 0..<kh {
                                        let iy = oy * g.strides[0] - g.padsBegin[0] + i * g.dilations[0]
                                        for j in 0..<kw {
                                            let ix = ox * g.strides[1] - g.padsBegin[1] + j * g.dilations[1]
                                            let v = iy >= 0 && iy < h && ix >= 0 && ix < wd ? Double(xin[((b * c + ci) * h + iy) * wd + ix]) : 0
                                            xp[r * d + (ci * kh + i) * kw + j] = v
                                        }
                                    }
                                }
                                for u in 0..<units {
                                    let m = keep?[u] ?? u
                                    yp[r * units + u] = Double(yin[((b * ym + m) * oh + oy) * ow + ox])
                                }
                                r += 1
                            }
                        }
                    }
                }
            }
            xr = xs
            yr = ys
        } else {
            d = w.shape[layer.unitAxis == 0 ? 1 : 0]
            guard x.rank >= 1, x.shape.last == d, d > 0, d <= maxColumns, let ym = y.shape.last, ym >= units,
                  keep.map({ $0.count == units && ($0.last ?? 0) < ym }) ?? (ym == units) else { return nil }
            let total = x.count / d
            guard total > 0, y.count / ym == total else { return nil }
            let step = max(1, (total + maxRows - 1) / maxRows)
            rows = (total + step - 1) / step
            let xv = x.floats, yv = y.floats
            var xs = [Double](repeating: 0, count: rows * d), ys = [Double](repeating: 0, count: rows * units)
            var r = 0
            for t in stride(from: 0, to: total, by: step) {
                for j in 0..<d { xs[r * d + j] = Double(xv[t * d + j]) }
                for u in 0..<units { ys[r * units + u] = Double(yv[t * ym + (keep?[u] ?? u)]) }
                r += 1
            }
            xr = xs
            yr = ys
        }
        // The current (sliced) parameters as θ [d (+1), units].
        let withBias = layer.bias != nil
        let p = d + (withBias ? 1 : 0)
        var current = [Double](repeating: 0, count: p * units)
        for u in 0..<units {
            for j in 0..<d {
                // Conv [M, C, kh, kw] = [units, d]; MatMul [d, units]; Gemm transB [units, d].
                current[j * units + u] = Double(layer.unitAxis == 0 ? w.values[u * d + j] : w.values[j * units + u])
            }
            if withBias, let b = arrays[layer.bias!] { current[d * units + u] = Double(b.values[u]) }
        }
        // A = [X 1] as rows × p.
        var a = [Double](repeating: 1, count: rows * p)
        for r in 0..<rows { for j in 0..<d { a[r * p + j] = xr[r * d + j] } }
        var gram = [Double](repeating: 0, count: p * p), rhs = [Double](repeating: 0, count: p * units)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(p), Int32(p), Int32(rows), 1, a, Int32(p), a, Int32(p), 0, &gram, Int32(p))
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(p), Int32(units), Int32(rows), 1, a, Int32(p), yr, Int32(units), 0, &rhs, Int32(units))
        func error(_ theta: [Double]) -> Double {
            var pred = yr
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(units), Int32(p), 1, a, Int32(p), theta, Int32(units), -1, &pred, Int32(units))
            return pred.reduce(0) { $0 + $1 * $1 } / Double(max(1, pred.count))
        }
        let before = error(current)
        // Ridge: 1e-4 of the mean diagonal keeps the solve well posed when channels are (nearly) dead.
        var trace = 0.0
        for j in 0..<p { trace += gram[j * p + j] }
        let ridge = max(1e-4 * trace / Double(p), 1e-12)
        for j in 0..<p { gram[j * p + j] += ridge }
        guard let theta = choleskySolve(gram, rhs, n: p, columns: units) else {
            return Outcome(layer: layer.label, errorBefore: before, errorAfter: before, applied: false)
        }
        let after = error(theta)
        guard after.isFinite, after < before else { return Outcome(layer: layer.label, errorBefore: before, errorAfter: after, applied: false) }
        var nw = w
        for u in 0..<units {
            for j in 0..<d {
                let v = Float(theta[j * units + u])
                if layer.unitAxis == 0 { nw.values[u * d + j] = v } else { nw.values[j * units + u] = v }
            }
        }
        arrays[layer.weight] = nw
        if let bn = layer.bias, var b = arrays[bn] {
            for u in 0..<units { b.values[u] = Float(theta[d * units + u]) }
            arrays[bn] = b
        }
        return Outcome(layer: layer.label, errorBefore: before, errorAfter: after, applied: true)
    }

    /// Solves `G θ = B` for symmetric positive definite G [n, n] and B [n, columns]; nil when G is
    /// not positive definite.
    static func choleskySolve(_ g: [Double], _ b: [Double], n: Int, columns: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = g[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0, s.isFinite else { return nil }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        var x = b
        for c in 0..<columns {
            // L z = b, then Lᵀ x = z.
            for i in 0..<n {
                var s = x[i * columns + c]
                for k in 0..<i { s -= l[i * n + k] * x[k * columns + c] }
                x[i * columns + c] = s / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var s = x[i * columns + c]
                for k in (i + 1)..<n { s -= l[k * n + i] * x[k * columns + c] }
                x[i * columns + c] = s / l[i * n + i]
            }
        }
        return x
    }
}
