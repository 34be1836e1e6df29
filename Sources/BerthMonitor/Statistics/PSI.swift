import Foundation

/// The population stability index, as Evidently's `psi` computes it: Σ (r − c)·ln(r/c) over the
/// shares of ``Binning`` with empty bins filled.
public enum PSI {
    /// PSI of two samples.
    public static func samples(reference: FeatureSample, current: FeatureSample) -> Double {
        let (r, c) = Binning.shares(reference: reference, current: current, fillZeros: true)
        return zip(r, c).reduce(0) { $0 + ($1.0 - $1.1) * log($1.0 / $1.1) }
    }
}
