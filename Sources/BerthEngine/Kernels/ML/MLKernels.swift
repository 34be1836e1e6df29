import BerthONNX
import BerthTensor

extension KernelRegistry {
    /// Registers the ai.onnx.ml family (classic ML operators emitted by skl2onnx and onnxmltools).
    mutating func registerMLKernels() {
        let ml = "ai.onnx.ml"
        register("ArrayFeatureExtractor", domain: ml) { _, _ in
            return { inputs, _ in [try arrayFeatureExtractor(try inputs.required(0), indices: try inputs.required(1))] }
        }
        register("LinearClassifier", domain: ml) { node, _ in
            let k = try LinearClassifierKernel(node)
            return { inputs, _ in try k.run(try inputs.required(0)) }
        }
        register("LinearRegressor", domain: ml) { node, _ in
            let k = try LinearRegressorKernel(node)
            return { inputs, _ in [try k.run(try inputs.required(0))] }
        }
        register("SVMClassifier", domain: ml) { node, _ in
            let k = try SVMClassifierKernel(node)
            return { inputs, ctx in try k.run(try inputs.required(0), pool: ctx.pool) }
        }
        register("SVMRegressor", domain: ml) { node, _ in
            let k = try SVMRegressorKernel(node)
            return { inputs, ctx in [try k.run(try inputs.required(0), pool: ctx.pool)] }
        }
        register("TreeEnsembleClassifier", domain: ml, opsets: 1...4) { node, _ in
            let k = try TreeEnsembleClassifierKernel(node)
            return { inputs, ctx in try k.run(try inputs.required(0), pool: ctx.pool) }
        }
        register("TreeEnsembleRegressor", domain: ml, opsets: 1...4) { node, _ in
            let k = try TreeEnsembleRegressorKernel(node)
            return { inputs, ctx in [try k.run(try inputs.required(0), pool: ctx.pool)] }
        }
        register("TreeEnsemble", domain: ml, opsets: 5...Int.max) { node, _ in try mlTreeEnsembleV5(node) }
        register("Scaler", domain: ml) { node, _ in try mlScaler(node) }
        register("Normalizer", domain: ml) { node, _ in try mlNormalizer(node) }
        register("Binarizer", domain: ml) { node, _ in try mlBinarizer(node) }
        register("Imputer", domain: ml) { node, _ in try mlImputer(node) }
        register("OneHotEncoder", domain: ml) { node, _ in try mlOneHotEncoder(node) }
        register("LabelEncoder", domain: ml) { node, opset in try mlLabelEncoder(node, opset: opset) }
        register("CategoryMapper", domain: ml) { node, _ in try mlCategoryMapper(node) }
        register("FeatureVectorizer", domain: ml) { node, _ in try mlFeatureVectorizer(node) }
        register("ZipMap", domain: ml) { node, _ in try mlZipMap(node) }
    }
}

/// Selects columns of the last axis, as ONNX Runtime does: X [..., C] and indices [K] give [..., K];
/// a 1-D X gives [1, K].
func arrayFeatureExtractor(_ x: Tensor, indices: Tensor) throws -> Tensor {
    let idx = try indices.integers()
    guard let columns = x.shape.last else { throw KernelError("X must have at least one dimension") }
    for i in idx where i < 0 || i >= columns {
        throw KernelError("index \(i) is out of range for the last axis of size \(columns)")
    }
    let rows = columns == 0 ? 0 : x.count / columns
    var gather: [Int] = []
    gather.reserveCapacity(rows * idx.count)
    for r in 0..<rows { for i in idx { gather.append(r * columns + i) } }
    let shape = x.rank == 1 ? [1, idx.count] : Array(x.shape.dropLast()) + [idx.count]
    return try Tensor(shape: shape, storage: x.storage.gather(gather))
}
