import BerthTensor

extension Tensor {
    /// Rows `range` of axis 0.
    func rows(_ range: Range<Int>) throws -> Tensor {
        guard let n = shape.first else { return self }
        if range == 0..<n { return self }
        let width = n == 0 ? 0 : count / n
        return try Tensor(shape: [range.count] + shape.dropFirst(),
                          storage: storage.gather(Array(range.lowerBound * width ..< range.upperBound * width)))
    }

    /// The elements as Double (not for strings).
    var doubles: [Double] {
        if case let .float64(v) = storage { return v }
        return (0..<count).map { storage.double(at: $0) }
    }

    /// The elements as class labels: strings stay strings, numbers become numbers.
    var classLabels: [ClassLabel] {
        if case let .string(v) = storage { return v.map(ClassLabel.string) }
        return (0..<count).map { .number(storage.double(at: $0)) }
    }

    /// `float[?, 3]`-style summary of dtype and shape.
    var typeDescription: String { "\(dtype)\(shape)" }
}
