/// Mean and spread, computed as NumPy computes them (two passes, population variance).
public enum Moments {
    /// The arithmetic mean (NaN for no values).
    public static func mean(_ x: [Double]) -> Double {
        x.isEmpty ? .nan : x.reduce(0, +) / Double(x.count)
    }

    /// `np.std(x)`: √(Σ (x − mean)² / n).
    public static func standardDeviation(_ x: [Double]) -> Double {
        let m = mean(x)
        return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count)).squareRoot()
    }
}
