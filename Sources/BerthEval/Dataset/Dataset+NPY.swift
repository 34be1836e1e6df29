import BerthTensor
import Foundation

extension Dataset {
    /// Reads a `.npy` data set. The array's first axis is the row. Labels come from a second
    /// 1-D `.npy` file (`labelsURL`) or, for a 2-D array, from the column at `labelIndex`.
    public static func npy(contentsOf url: URL, labelsURL: URL?, labelIndex: Int?) throws -> Dataset {
        let array = try readArray(url)
        if let labelsURL {
            let labels = try readArray(labelsURL)
            guard labels.rank == 1 || (labels.rank == 2 && labels.shape[1] == 1) else {
                throw EvalError.badArray(path: labelsURL.path, reason: "labels must be 1-D, got shape \(labels.shape)")
            }
            let column: Column
            if case let .string(values) = labels.storage {
                column = Column(name: "label", text: values)
            } else {
                column = Column(name: "label", numbers: (0..<labels.count).map { labels.storage.double(at: $0) })
            }
            return try Dataset(source: url.path, array: array, labels: column)
        }
        guard let labelIndex else {
            throw EvalError.invalidArgument("a .npy data set needs --labels FILE.npy or --label COLUMN-INDEX")
        }
        return try Dataset(source: url.path, array: array, labelIndex: labelIndex)
    }

    private static func readArray(_ url: URL) throws -> Tensor {
        do { return try NPY.read(contentsOf: url) } catch {
            throw EvalError.badArray(path: url.path, reason: "\(error)")
        }
    }
}
