import BerthONNX
import BerthTensor

/// ai.onnx.ml LinearClassifier: scores = X·Wᵀ + b, labels by argmax (or sign for one score).
struct LinearClassifierKernel {
    let coefficients: [Float]
    let intercepts: [Float]
    let labels: ClassLabels
    let transform: PostTransform

    init(_ node: Node) throws {
        guard let c = try node.floats("coefficients"), !c.isEmpty else { throw KernelError("coefficients are required") }
        coefficients = c
        intercepts = try node.floats("intercepts") ?? []
        labels = try ClassLabels(node, intsKey: "classlabels_ints")
        transform = try PostTransform(node)
        guard !intercepts.isEmpty, coefficients.count % intercepts.count == 0 else {
            throw KernelError("\(coefficients.count) coefficients do not split into \(intercepts.count) classes")
        }
    }

    func run(_ x: Tensor) throws -> [Tensor] {
        let m = try MLMatrix(x)
        let targets = intercepts.count
        guard coefficients.count == targets * m.features else {
            throw KernelError("X has \(m.features) features but the model has \(coefficients.count / targets)")
        }
        let scores = mlGemmTransB(try mlFloats(x), rows: m.rows, k: m.features, coefficients, n: targets, bias: intercepts)
        var chosen: [ChosenLabel] = []
        chosen.reserveCapacity(m.rows)
        if targets == 1 {
            let named = labels.count == 2
            for r in 0..<m.rows {
                let positive = scores[r] > 0
                chosen.append(named ? .index(positive ? 1 : 0) : .literal(positive ? 1 : 0))
            }
        } else {
            guard labels.count >= targets else { throw KernelError("\(labels.count) class labels for \(targets) classes") }
            for r in 0..<m.rows {
                var best = 0
                var bestScore = scores[r * targets]
                for j in 1..<targets where scores[r * targets + j] > bestScore { best = j; bestScore = scores[r * targets + j] }
                chosen.append(.index(best))
            }
        }
        let addSecond = targets == 1 && labels.count == 2
        let z = mlTransformRows(scores, rows: m.rows, width: targets, transform, second: addSecond ? .complement : .none)
        return [labels.tensor(chosen), Tensor(unchecked: [m.rows, addSecond ? 2 : targets], storage: .float32(z))]
    }
}

/// ai.onnx.ml LinearRegressor: Y = X·Wᵀ + b with `targets` outputs per row.
struct LinearRegressorKernel {
    let coefficients: [Float]
    let intercepts: [Float]
    let targets: Int
    let transform: PostTransform

    init(_ node: Node) throws {
        coefficients = try node.floats("coefficients") ?? []
        intercepts = try node.floats("intercepts") ?? []
        targets = try node.int("targets", default: 1)
        transform = try PostTransform(node)
        guard targets > 0, !coefficients.isEmpty, coefficients.count % targets == 0 else {
            throw KernelError("\(coefficients.count) coefficients do not split into \(targets) targets")
        }
        guard intercepts.isEmpty || intercepts.count == targets else {
            throw KernelError("\(intercepts.count) intercepts for \(targets) targets")
        }
    }

    func run(_ x: Tensor) throws -> Tensor {
        let m = try MLMatrix(x)
        guard coefficients.count == targets * m.features else {
            throw KernelError("X has \(m.features) features but the model has \(coefficients.count / targets)")
        }
        let y = mlGemmTransB(try mlFloats(x), rows: m.rows, k: m.features, coefficients, n: targets, bias: intercepts)
        let z = transform == .none ? y : mlTransformRows(y, rows: m.rows, width: targets, transform, second: .none)
        return Tensor(unchecked: [m.rows, targets], storage: .float32(z))
    }
}
