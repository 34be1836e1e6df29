import BerthONNX
import BerthTensor

/// NonMaxSuppression: per batch and class, greedily keeps the highest-scoring boxes (ties to the
/// lower index) whose IoU with every box kept so far is at most the threshold, as ONNX Runtime
/// does. Boxes are [y1, x1, y2, x2] corners in either order, or [x, y, w, h] centres.
func nnNonMaxSuppression(boxes: Tensor, scores: Tensor, maxOutput: Tensor?, iouThreshold: Tensor?, scoreThreshold: Tensor?,
                         centerPointBox: Bool) throws -> Tensor {
    guard boxes.rank == 3, boxes.shape[2] == 4, scores.rank == 3, scores.shape[0] == boxes.shape[0], scores.shape[2] == boxes.shape[1] else {
        throw KernelError("NonMaxSuppression needs boxes [B, N, 4] and scores [B, C, N], got \(boxes.shape) and \(scores.shape)")
    }
    guard boxes.dtype.isFloatingPoint, scores.dtype.isFloatingPoint else {
        throw KernelError("NonMaxSuppression boxes and scores must be float tensors, got \(boxes.dtype) and \(scores.dtype)")
    }
    func scalar(_ t: Tensor?, _ what: String) throws -> Double? {
        guard let t, t.count > 0 else { return nil }
        guard t.count == 1, t.dtype != .string else { throw KernelError("NonMaxSuppression \(what) must be a scalar") }
        return t.storage.double(at: 0)
    }
    let maxPerClass = Int(max(0, min(try scalar(maxOutput, "max_output_boxes_per_class") ?? 0, 1e12)))
    let iou = try scalar(iouThreshold, "iou_threshold") ?? 0
    let scoreCut = try scalar(scoreThreshold, "score_threshold")
    let nb = boxes.shape[0], nc = scores.shape[1], n = boxes.shape[1]
    let b = boxes.doubles, s = scores.doubles
    // Corners of each box as (yMin, xMin, yMax, xMax).
    var corners = [(Double, Double, Double, Double)](repeating: (0, 0, 0, 0), count: nb * n)
    for i in 0..<(nb * n) {
        let v = (b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3])
        if centerPointBox {
            corners[i] = (v.1 - v.3 / 2, v.0 - v.2 / 2, v.1 + v.3 / 2, v.0 + v.2 / 2)
        } else {
            corners[i] = (min(v.0, v.2), min(v.1, v.3), max(v.0, v.2), max(v.1, v.3))
        }
    }
    func suppresses(_ p: (Double, Double, Double, Double), _ q: (Double, Double, Double, Double)) -> Bool {
        let ix0 = max(p.1, q.1), ix1 = min(p.3, q.3)
        guard ix1 > ix0 else { return false }
        let iy0 = max(p.0, q.0), iy1 = min(p.2, q.2)
        guard iy1 > iy0 else { return false }
        let inter = (ix1 - ix0) * (iy1 - iy0)
        let a1 = (p.3 - p.1) * (p.2 - p.0), a2 = (q.3 - q.1) * (q.2 - q.0)
        let union = a1 + a2 - inter
        guard inter > 0, a1 > 0, a2 > 0, union > 0 else { return false }
        return inter / union > iou
    }
    var out: [Int64] = []
    guard maxPerClass > 0 else { return Tensor(unchecked: [0, 3], storage: .int64([])) }
    for bi in 0..<nb {
        for ci in 0..<nc {
            let base = (bi * nc + ci) * n
            var cand = (0..<n).filter { scoreCut == nil || s[base + $0] > scoreCut! }
            cand.sort { s[base + $0] != s[base + $1] ? s[base + $0] > s[base + $1] : $0 < $1 }
            var kept: [Int] = []
            for i in cand {
                if kept.count >= maxPerClass { break }
                let box = corners[bi * n + i]
                if kept.contains(where: { suppresses(box, corners[bi * n + $0]) }) { continue }
                kept.append(i)
                out += [Int64(bi), Int64(ci), Int64(i)]
            }
        }
    }
    return Tensor(unchecked: [out.count / 3, 3], storage: .int64(out))
}

extension KernelRegistry {
    mutating func registerNonMaxSuppressionKernels() {
        register("NonMaxSuppression", opsets: 10...Int.max) { node, _ in
            let center = try node.int("center_point_box", default: 0)
            guard center == 0 || center == 1 else { throw KernelError("NonMaxSuppression center_point_box must be 0 or 1, got \(center)") }
            return { inputs, _ in
                [try nnNonMaxSuppression(boxes: try inputs.required(0), scores: try inputs.required(1), maxOutput: inputs.optional(2),
                                         iouThreshold: inputs.optional(3), scoreThreshold: inputs.optional(4), centerPointBox: center == 1)]
            }
        }
    }
}
