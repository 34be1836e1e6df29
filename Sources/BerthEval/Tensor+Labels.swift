import BerthTensor

extension Tensor {
    /// The elements as class labels: strings stay strings, numbers become numbers.
    var classLabels: [ClassLabel] {
        if case let .string(v) = storage { return v.map(ClassLabel.string) }
        return doubles.map(ClassLabel.number)
    }

    /// `float[?, 3]`-style summary of dtype and shape.
    var typeDescription: String { "\(dtype)\(shape)" }
}
