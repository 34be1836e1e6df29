import BerthONNX
import BerthTensor

/// ai.onnx.ml FeatureVectorizer: concatenates the inputs' columns into one float [N, Σ dims],
/// truncating or zero-padding each input to its `inputdimensions` entry.
func mlFeatureVectorizer(_ node: Node) throws -> Kernel {
    let dims = try node.ints("inputdimensions") ?? []
    guard dims.allSatisfy({ $0 >= 0 }) else { throw KernelError("inputdimensions must not be negative") }
    let width = dims.reduce(0, +)
    return { inputs, _ in
        let xs = inputs.compactMap { $0 }
        guard xs.count == dims.count, !xs.isEmpty else {
            throw KernelError("\(xs.count) inputs but inputdimensions lists \(dims.count)")
        }
        let rows = xs[0].rank >= 2 ? xs[0].shape[0] : 1
        var y = [Float](repeating: 0, count: try Shape.elementCount([rows, width]))
        var offset = 0
        for (k, x) in xs.enumerated() {
            let xrows = x.rank >= 2 ? x.shape[0] : 1
            guard xrows == rows else { throw KernelError("input \(k) has \(xrows) rows, input 0 has \(rows)") }
            let v = try mlFloats(x)
            let cols = rows == 0 ? 0 : v.count / rows
            let take = Swift.min(cols, dims[k])
            for r in 0..<rows { for c in 0..<take { y[r * width + offset + c] = v[r * cols + c] } }
            offset += dims[k]
        }
        return [Tensor(unchecked: [rows, width], storage: .float32(y))]
    }
}

/// ai.onnx.ml ZipMap. ONNX Runtime returns a sequence of {label: probability} maps; Berth has no
/// map values (and the Open Inference Protocol cannot carry them), so it returns the probability
/// matrix itself: float [N, C] whose columns are in `classlabels_*` order — the maps' key order.
func mlZipMap(_ node: Node) throws -> Kernel {
    let labels = try ClassLabels(node, intsKey: "classlabels_int64s")
    return { inputs, _ in
        let x = try inputs.required(0)
        guard x.dtype == .float32 else { throw KernelError("ZipMap takes float, got \(x.dtype)") }
        let cols = x.shape.last ?? 0
        guard x.rank == 1 || x.rank == 2, cols == labels.count else {
            throw KernelError("ZipMap input shape \(x.shape) does not end in \(labels.count) classes")
        }
        return [x.rank == 1 ? try x.reshaped([1, cols]) : x]
    }
}
